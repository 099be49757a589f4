//! Dokploy's `project.search` (`routers/project.ts`, v0.28.3 and later): the projects whose
//! name contains `name` (and `q`), without regard to case, newest first, a page of `limit`
//! (1-100, default 20) from `offset` (default 0), with the `total` that match. Items are the
//! project's own columns, without environments. `limit` and `offset` may come as query text:
//! Dokploy's REST layer coerces them to numbers.
//!
//! It never answers with environments or services (Dokploy does not), and it never passes over
//! every project when a term has three characters or more: a trigram index of the names gives
//! the candidates, so a search costs what its candidates cost.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::World;
use super::project::ProjectRecord;
use super::zod;
use crate::simulator::answer::{Answer, Failure};

impl World {
    /// `project.search`.
    pub(super) fn project_search(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let input = zod::parse(SEARCH, input)?;
        let count = |key: &str, default: usize| {
            input
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(default)
        };
        let (limit, offset) = (count("limit", 20), count("offset", 0));
        let terms: Vec<String> = ["name", "q"]
            .iter()
            .filter_map(|key| zod::text(&input, key))
            .map(|term| term.trim().to_ascii_lowercase())
            .filter(|term| !term.is_empty())
            .collect();
        let mut total = 0;
        let mut items = Vec::new();
        for project in self.searched(&terms) {
            if !terms
                .iter()
                .all(|term| contains_ignoring_case(&project.name, term))
            {
                continue;
            }
            if total >= offset && items.len() < limit {
                items.push(json!({
                    "projectId": project.id, "name": project.name, "description": null,
                    "createdAt": project.created_at, "organizationId": "sim-organization",
                    "env": "",
                }));
            }
            total += 1;
        }
        Ok(Answer::Json(json!({ "items": items, "total": total })))
    }
}

impl World {
    /// The projects that may contain every term, newest first: through the trigram index when a
    /// term has three characters or more (so a search costs what its candidates cost, never a
    /// pass over every project), else every project.
    fn searched(&self, terms: &[String]) -> Vec<&ProjectRecord> {
        let Some(candidates) = self.project_names.candidates(terms) else {
            return self.projects.iter().rev().collect();
        };
        let mut found: Vec<&ProjectRecord> = candidates
            .iter()
            .filter_map(|id| self.projects.get(id))
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        found
    }
}

/// The projects' names by their lower-case trigrams.
#[derive(Debug, Default)]
pub(super) struct NameIndex {
    grams: HashMap<[u8; 3], BTreeSet<String>>,
}

impl NameIndex {
    /// Notes the project `id` named `name`.
    pub(super) fn insert(&mut self, id: &str, name: &str) {
        for gram in trigrams(name) {
            self.grams.entry(gram).or_default().insert(id.to_owned());
        }
    }

    /// Forgets the project `id` named `name`.
    pub(super) fn remove(&mut self, id: &str, name: &str) {
        for gram in trigrams(name) {
            if let Some(ids) = self.grams.get_mut(&gram) {
                ids.remove(id);
                if ids.is_empty() {
                    self.grams.remove(&gram);
                }
            }
        }
    }

    /// The ids of the projects whose names hold every trigram of the longest term; None when
    /// no term has three characters.
    fn candidates(&self, terms: &[String]) -> Option<BTreeSet<String>> {
        let term = terms
            .iter()
            .filter(|t| t.len() >= 3)
            .max_by_key(|t| t.len())?;
        let mut sets: Vec<&BTreeSet<String>> = Vec::new();
        for gram in trigrams(term) {
            match self.grams.get(&gram) {
                Some(ids) => sets.push(ids),
                None => return Some(BTreeSet::new()),
            }
        }
        sets.sort_by_key(|ids| ids.len());
        let (smallest, rest) = sets.split_first()?;
        Some(
            smallest
                .iter()
                .filter(|id| rest.iter().all(|ids| ids.contains(*id)))
                .cloned()
                .collect(),
        )
    }
}

/// The lower-case three-byte windows of `text`.
fn trigrams(text: &str) -> impl Iterator<Item = [u8; 3]> + '_ {
    text.as_bytes().windows(3).map(|w| {
        [
            w[0].to_ascii_lowercase(),
            w[1].to_ascii_lowercase(),
            w[2].to_ascii_lowercase(),
        ]
    })
}

/// Whether `text` contains `term` (lower case) without regard to ASCII case, as Postgres'
/// `ILIKE '%term%'` does for these names; it allocates nothing, since it runs once per project.
fn contains_ignoring_case(text: &str, term: &str) -> bool {
    term.is_empty()
        || text
            .as_bytes()
            .windows(term.len())
            .any(|window| window.eq_ignore_ascii_case(term.as_bytes()))
}

/// `project.search`'s input schema (`routers/project.ts`): optional texts, and a page of
/// `limit` 1-100 from `offset` 0 or more.
const SEARCH: &[zod::Field] = &[
    zod::Field::new("q", zod::Kind::Text(&[]), zod::Presence::Optional),
    zod::Field::new("name", zod::Kind::Text(&[]), zod::Presence::Optional),
    zod::Field::new(
        "limit",
        zod::Kind::Number(&[
            zod::NumberCheck::Min(1, "Too small: expected number to be >=1"),
            zod::NumberCheck::Max(100, "Too big: expected number to be <=100"),
        ]),
        zod::Presence::Optional,
    ),
    zod::Field::new(
        "offset",
        zod::Kind::Number(&[zod::NumberCheck::Min(
            0,
            "Too small: expected number to be >=0",
        )]),
        zod::Presence::Optional,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn world(names: &[&str]) -> World {
        let mut world = World::for_tests(false, None);
        for name in names {
            let input = json!({ "name": name });
            let input = input.as_object().expect("an object");
            world.project_create(input).expect("created");
        }
        world
    }

    fn search(world: &World, input: Value) -> Result<Value, Failure> {
        let input = input.as_object().expect("an object").clone();
        match world.project_search(&input)? {
            Answer::Json(value) => Ok(value),
            _ => panic!("project.search answers JSON"),
        }
    }

    #[test]
    fn search_pages_names_containing_the_text_newest_first_without_case() {
        let world = world(&["shop", "Shopping", "blog", "workshop"]);
        let page = search(&world, json!({"name": "SHOP", "limit": "2"})).expect("valid");
        assert_eq!(page["total"], 3);
        let names: Vec<&str> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, ["workshop", "Shopping"]);
        assert!(page["items"][0].get("environments").is_none());
        let next = search(&world, json!({"name": "shop", "limit": 2, "offset": "2"}));
        assert_eq!(next.expect("valid")["items"][0]["name"], "shop");
        let all = search(&world, json!({})).expect("no filter");
        assert_eq!(all["total"], 4);
    }

    #[test]
    fn search_refuses_a_limit_outside_1_to_100() {
        let world = world(&["shop"]);
        for limit in [json!("0"), json!(101), json!("many")] {
            let refused = search(&world, json!({ "limit": limit })).expect_err("refused");
            let body = refused.response_body(Some("project.search"));
            assert_eq!(body["message"], "Input validation failed", "{limit}");
            assert_eq!(body["issues"][0]["path"], json!(["limit"]), "{limit}");
        }
    }

    #[test]
    fn search_finds_by_index_and_by_scan_alike_and_forgets_a_removed_project() {
        let mut world = world(&["Alpha-Shop", "beta", "alphabet"]);
        let names = |page: Value| -> Vec<String> {
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|item| item["name"].as_str().expect("a name").to_owned())
                .collect()
        };
        let indexed = search(&world, json!({"name": "ALPHA"})).expect("valid");
        assert_eq!(names(indexed), ["alphabet", "Alpha-Shop"], "newest first");
        let scanned = search(&world, json!({"name": "al"})).expect("valid");
        assert_eq!(
            names(scanned),
            ["alphabet", "Alpha-Shop"],
            "a short term scans"
        );
        let none = search(&world, json!({"name": "zzz"})).expect("valid");
        assert_eq!(none["total"], 0);
        let all = world.state();
        let id = all["projects"]
            .as_array()
            .expect("projects")
            .iter()
            .find(|p| p["name"] == "alphabet")
            .and_then(|p| p["projectId"].as_str())
            .expect("alphabet's id")
            .to_owned();
        let input = json!({ "projectId": id });
        world
            .project_remove(input.as_object().expect("an object"))
            .expect("removed");
        let after = search(&world, json!({"name": "alpha"})).expect("valid");
        assert_eq!(
            names(after),
            ["Alpha-Shop"],
            "a removed project is not found"
        );
    }
}
