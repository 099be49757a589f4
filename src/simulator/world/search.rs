//! Dokploy's `project.search` (`routers/project.ts`, v0.28.3 and later): the projects whose
//! name contains `name` (and `q`), without regard to case, newest first, a page of `limit`
//! (1-100, default 20) from `offset` (default 0), with the `total` that match. Items are the
//! project's own columns, without environments. `limit` and `offset` may come as query text:
//! Dokploy's REST layer coerces them to numbers.
//!
//! It never answers with environments or services (Dokploy does not), and it costs one pass
//! over the projects per call, never more.

use serde_json::{Map, Value, json};

use super::World;
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
        for project in self.projects.iter().rev() {
            let name = project.name.to_ascii_lowercase();
            if !terms.iter().all(|term| name.contains(term.as_str())) {
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
}
