#!/usr/bin/env python3
"""Function and file sizes of Rust sources (issue 10's figures): lines from a `fn` line to its
closing brace, file lines excluding a trailing #[cfg(test)] module; test-only files
(tests.rs, tests_*.rs, fixture(s).rs) are skipped. Usage: python3 tools/size/sizes.py src tools"""
import re, sys, statistics, pathlib
def strip_tests(lines):
    for i,l in enumerate(lines):
        if l.startswith('#[cfg(test)]'):
            return lines[:i]
    return lines
def funcs(lines):
    out=[]
    fnre=re.compile(r'^\s*(pub(\([a-z]+\))?\s+)?(const\s+)?(async\s+)?fn\s+(\w+)')
    i=0
    while i<len(lines):
        m=fnre.match(lines[i])
        if m:
            depth=0; started=False; j=i
            while j<len(lines):
                code=re.sub(r'"(\\.|[^"\\])*"','""',lines[j]); code=re.sub(r"//.*","",code)
                code=re.sub(r"'(\\.|[^'\\])'","''",code)
                depth+=code.count('{')-code.count('}')
                if '{' in code: started=True
                if started and depth<=0: break
                if not started and code.rstrip().endswith(';'): break
                j+=1
            if started: out.append((m.group(5), j-i+1))
            i=j+1 if started else i+1
        else: i+=1
    return out
def pct(v,p):
    v=sorted(v); k=max(0,min(len(v)-1,int(round(p*(len(v)-1))))); return v[k]
for root in sys.argv[1:]:
    files=sorted(f for f in pathlib.Path(root).rglob('*.rs') if not re.fullmatch(r'tests(_\w+)?\.rs|fixtures?\.rs', f.name))
    fl=[]; fs=[]; big=[]
    for f in files:
        lines=strip_tests(f.read_text().split('\n'))
        fl.append((len(lines),str(f)))
        for name,n in funcs(lines):
            fs.append(n)
            if n>70: big.append((n,f"{f}:{name}"))
    sizes=[n for n,_ in fl]
    print(f"{root}: {len(files)} files, file lines median {statistics.median(sizes):.0f} max {max(sizes)} ({max(fl)[1]}); "
          f"{len(fs)} fns, median {statistics.median(fs):.0f} p90 {pct(fs,0.9)} max {max(fs)}; fns>70: {len(big)}; files>500: {sum(1 for n in sizes if n>500)}")
    for n,w in sorted(big,reverse=True)[:12]: print(f"   {n:4d} {w}")
