//! [`Scrubber`]: removes the configured secrets (the Dokploy API key, the admin tokens) from
//! any text taken from a Dokploy answer before it is recorded, logged or shown.
//!
//! A Dokploy, or a proxy in front of it, may echo a secret back: as is, in another case,
//! percent-encoded, JSON-escaped, base64-encoded (standard or URL-safe, with or without
//! padding, alone or inside a longer base64 value), or after `Bearer `. Each form is matched without regard to ASCII case and
//! replaced with [`REDACTED`]; a text that ends in the first characters of a secret (an
//! upstream cut it there) loses that tail too. The scrubber never stores a text, never logs,
//! and its `Debug` never shows a secret. It depends on `secret` only.

use std::fmt;

use crate::deployment::clip;
use crate::secret::ApiKey;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The shortest tail of a secret that is redacted at the end of a text (a shorter one could be
/// an ordinary word, and reveals too little to matter).
const TAIL_CHARS_MIN: usize = 6;

/// Every configured secret in every form it may be echoed in, lower-cased, longest first.
#[derive(Clone, Default)]
pub struct Scrubber {
    needles: Vec<Vec<u8>>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} forms)", self.needles.len())
    }
}

impl Scrubber {
    /// A scrubber for `secrets` (the Dokploy API key and the admin tokens).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a ApiKey>) -> Self {
        let mut needles: Vec<Vec<u8>> = secrets
            .into_iter()
            .flat_map(|secret| forms(secret.expose()))
            .map(|form| form.to_ascii_lowercase().into_bytes())
            .filter(|form| !form.is_empty())
            .collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Self { needles }
    }

    /// `text` without any configured secret, cut to at most `bytes_max` bytes (at a character
    /// boundary, ending in `…` when cut). Scrubbing comes first, so a cut never leaves part of
    /// a secret behind.
    pub fn clean(&self, text: &str, bytes_max: usize) -> String {
        clip(&self.scrub(text), bytes_max)
    }

    /// The longest form of a secret, in bytes (a window of text this much longer than what is
    /// kept holds every secret that reaches into what is kept).
    pub fn form_bytes_max(&self) -> usize {
        self.needles.first().map_or(0, Vec::len)
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        if self.needles.is_empty() {
            return text.to_owned();
        }
        // ASCII lower-casing keeps every byte where it is, so a match in `folded` is the same
        // range in `text`; the needles are ASCII, so a range starts and ends at a character.
        let folded = text.as_bytes().to_ascii_lowercase();
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        let mut at = 0;
        while at < folded.len() {
            match self.needles.iter().find(|n| folded[at..].starts_with(n)) {
                Some(needle) => {
                    out.push_str(&text[start..at]);
                    out.push_str(REDACTED);
                    at += needle.len();
                    start = at;
                }
                None => at += 1,
            }
        }
        let rest = &text[start..];
        let tail = self.secret_tail(&folded[start..]);
        out.push_str(&rest[..rest.len() - tail]);
        if tail > 0 {
            out.push_str(REDACTED);
        }
        out
    }

    /// The length of the longest end of `folded` that is the start of a secret's form.
    fn secret_tail(&self, folded: &[u8]) -> usize {
        // `Bearer ` alone is an ordinary word; the secret after it is its own form.
        self.needles
            .iter()
            .filter(|needle| !needle.starts_with(b"bearer "))
            .flat_map(|needle| {
                let longest = needle.len().min(folded.len());
                (TAIL_CHARS_MIN..=longest)
                    .rev()
                    .find(|len| folded.ends_with(&needle[..*len]))
            })
            .max()
            .unwrap_or(0)
    }
}

/// The forms a secret may be echoed in.
fn forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let standard = base64(bytes, STANDARD);
    let url_safe = base64(bytes, URL_SAFE);
    let mut forms = vec![
        format!("Bearer {secret}"),
        secret.to_owned(),
        percent(secret, false),
        percent(secret, true),
        json_escaped(secret, false),
        json_escaped(secret, true),
        standard.trim_end_matches('=').to_owned(),
        url_safe.trim_end_matches('=').to_owned(),
        standard,
        url_safe,
    ];
    // The secret inside a longer base64 value (`Basic base64("user:" + key)`): at each of the
    // three offsets a byte run can start at, the characters that only the secret decides.
    for alphabet in [STANDARD, URL_SAFE] {
        forms.extend((0..3).filter_map(|offset| embedded_base64(bytes, offset, alphabet)));
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Percent-encoding of everything but RFC 3986's unreserved characters; with `plus`, a space
/// as `+` (form encoding; a valid secret has no space, so only `+` itself changes).
fn percent(secret: &str, plus: bool) -> String {
    secret
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            b'+' if plus => "%2B".to_owned(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The secret inside a JSON string: `"` and `\` escaped, and with `slash` also `/` (as some
/// encoders do).
fn json_escaped(secret: &str, slash: bool) -> String {
    secret
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_owned(),
            '\\' => "\\\\".to_owned(),
            '/' if slash => "\\/".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The shortest form kept of a secret inside a longer base64 value: a shorter run of
/// characters could occur by chance in any base64 text.
const EMBEDDED_CHARS_MIN: usize = 8;

/// The base64 characters that depend on `secret`'s bytes only, when the secret starts `offset`
/// bytes (0-2) into a base64 group and other bytes follow it; None when that run is too short.
fn embedded_base64(secret: &[u8], offset: usize, alphabet: &[u8; 64]) -> Option<String> {
    let mut padded = vec![0; offset];
    padded.extend_from_slice(secret);
    let encoded = base64(&padded, alphabet);
    // The first character the pad bits do not reach, and the last one the secret fills.
    let start = [0, 2, 3][offset];
    let end = padded.len() * 8 / 6;
    let inner = encoded.get(start..end)?;
    (inner.len() >= EMBEDDED_CHARS_MIN).then(|| inner.to_owned())
}

/// Base64 of `bytes` with `alphabet`, padded with `=`.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(alphabet[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_Live+Key/With=Odd\"Chars\\42";

    fn scrubber() -> Scrubber {
        let key = ApiKey::new(KEY).expect("visible ASCII");
        let token = ApiKey::new("admin-token-0123456789abcdef").expect("visible ASCII");
        Scrubber::new([&key, &token])
    }

    fn assert_clean(text: &str) {
        let cleaned = scrubber().scrub(text);
        assert!(cleaned.contains(REDACTED), "{text:?} → {cleaned:?}");
        let lower = cleaned.to_ascii_lowercase();
        for form in forms(KEY)
            .iter()
            .chain(&forms("admin-token-0123456789abcdef"))
        {
            let form = form.to_ascii_lowercase();
            assert!(!lower.contains(&form), "{form:?} left in {cleaned:?}");
        }
        assert!(!lower.contains("sk_live"), "{cleaned:?}");
    }

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes(), STANDARD), encoded, "{plain}");
        }
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), "-_8=");
        assert_eq!(base64(&[0xfb, 0xff], STANDARD), "+/8=");
    }

    #[test]
    fn every_echoed_form_of_a_secret_is_redacted() {
        let key = KEY;
        let cases = [
            format!("Invalid API key {key}"),
            format!("Invalid API key {}", key.to_ascii_uppercase()),
            format!("Invalid API key {}", key.to_ascii_lowercase()),
            format!("GET /api/x?key={}", percent(key, false)),
            format!(
                "GET /api/x?key={}",
                percent(key, false).to_ascii_lowercase()
            ),
            format!("form key={}", percent(key, true)),
            format!(r#"{{"message":"{}"}}"#, json_escaped(key, false)),
            format!(r#"{{"message":"{}"}}"#, json_escaped(key, true)),
            format!("basic {}", base64(key.as_bytes(), STANDARD)),
            format!("basic {}", base64(key.as_bytes(), URL_SAFE)),
            format!(
                "basic {}.",
                base64(key.as_bytes(), URL_SAFE).trim_end_matches('=')
            ),
            format!("authorization: Bearer {key}"),
            format!("authorization: bearer {}", key.to_ascii_lowercase()),
            "token admin-token-0123456789ABCDEF echoed".to_owned(),
            format!("{key}{key} twice"),
        ];
        for text in &cases {
            assert_clean(text);
        }
    }

    #[test]
    fn a_text_cut_inside_a_secret_loses_the_secret_s_first_characters() {
        let cut = format!("Invalid API key {}", &KEY[..12]);
        assert_eq!(
            scrubber().scrub(&cut),
            format!("Invalid API key {REDACTED}")
        );
        // Fewer than six characters are too little to be a secret's start.
        assert_eq!(scrubber().scrub("ends in sk_Li"), "ends in sk_Li");
    }

    #[test]
    fn a_text_without_a_secret_is_unchanged_and_clean_bounds_it_after_scrubbing() {
        let text = "Project not found: prj_123 (Bearer tokens are not used)";
        assert_eq!(scrubber().scrub(text), text);
        let long = format!("{}{KEY}", "x".repeat(20));
        let cleaned = scrubber().clean(&long, 24);
        assert!(cleaned.len() <= 24, "{cleaned}");
        assert!(!cleaned.contains("sk_"), "{cleaned}");
        assert_eq!(Scrubber::default().scrub(KEY), KEY);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let shown = format!("{:?}", scrubber());
        assert!(!shown.contains("sk_"), "{shown}");
        assert!(
            !shown.to_ascii_lowercase().contains("admin-token"),
            "{shown}"
        );
    }

    #[test]
    fn a_secret_inside_a_longer_base64_value_is_redacted_at_every_offset() {
        let key = ApiKey::new("sk-live-0123456789abcdef").expect("a valid key");
        let scrubber = Scrubber::new([&key]);
        for user in ["u", "us", "use", "user:"] {
            for alphabet in [STANDARD, URL_SAFE] {
                let basic = base64(format!("{user}:{}!more", key.expose()).as_bytes(), alphabet);
                let scrubbed = scrubber.scrub(&format!("Authorization: Basic {basic}"));
                assert!(scrubbed.contains(REDACTED), "{user}: {scrubbed}");
                let inner = (0..3).filter_map(|offset| {
                    embedded_base64(key.expose().as_bytes(), offset, alphabet)
                });
                for form in inner {
                    assert!(
                        !scrubbed.contains(&form),
                        "{user}: {form} left in {scrubbed}"
                    );
                }
            }
        }
    }
}
