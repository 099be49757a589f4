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
use super::input::{issue, optional_string};
use crate::simulator::answer::{Answer, Failure};

impl World {
    /// `project.search`.
    pub(super) fn project_search(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let limit = number(input, "limit", 20, 1, Some(100));
        let offset = number(input, "offset", 0, 0, None);
        let (limit, offset) = match (limit, offset) {
            (Ok(limit), Ok(offset)) => (limit, offset),
            (limit, offset) => {
                let issues = [limit.err(), offset.err()].into_iter().flatten().collect();
                return Err(Failure::invalid(issues));
            }
        };
        let terms: Vec<String> = ["name", "q"]
            .iter()
            .filter_map(|key| optional_string(input, key))
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

/// The number under `key` (a JSON number or its text), `default` when absent, or the zod issue
/// of a value outside `minimum..=maximum`.
fn number(
    input: &Map<String, Value>,
    key: &str,
    default: usize,
    minimum: usize,
    maximum: Option<usize>,
) -> Result<usize, Value> {
    let value = match input.get(key) {
        None => return Ok(default),
        Some(Value::String(text)) => text.trim().parse::<usize>().ok(),
        Some(Value::Number(number)) => number.as_u64().and_then(|n| usize::try_from(n).ok()),
        Some(_) => None,
    };
    match value {
        Some(n) if n >= minimum && maximum.is_none_or(|maximum| n <= maximum) => Ok(n),
        _ => Err(issue(key, "Invalid input: expected a number in range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(names: &[&str]) -> World {
        let mut world = World::new(7, 1);
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
            let expected = issue("limit", "Invalid input: expected a number in range");
            assert_eq!(refused, Failure::invalid(vec![expected]), "{limit}");
        }
    }
}
