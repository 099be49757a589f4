//! How Dokploy names an application's Docker service (`schema/utils.ts` `buildAppName`): a
//! given `appName` is trimmed, its spaces turned to `-`, lower-cased, and given `-` and six
//! characters of `generatePassword(6)` (drawn from `A-Za-z0-9`, then lower-cased, so letters
//! come twice as often as digits); without one it is `app-<verb>-<adjective>-<noun>-` and six
//! of `a-z1-9`, the words from faker 8.4.1's English `hacker` lists (all of them, as shipped).
//!
//! It only draws from the world's seeded generator: it never checks uniqueness (the caller's
//! 409) and never writes a row.

use rand::Rng;

use super::World;

/// `generatePassword`'s alphabet.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// `customNanoid`'s alphabet in `schema/utils.ts`.
const NAME_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz123456789";

const VERBS: &[&str] = &[
    "back up",
    "bypass",
    "hack",
    "override",
    "compress",
    "copy",
    "navigate",
    "index",
    "connect",
    "generate",
    "quantify",
    "calculate",
    "synthesize",
    "input",
    "transmit",
    "program",
    "reboot",
    "parse",
];
const ADJECTIVES: &[&str] = &[
    "auxiliary",
    "primary",
    "back-end",
    "digital",
    "open-source",
    "virtual",
    "cross-platform",
    "redundant",
    "online",
    "haptic",
    "multi-byte",
    "bluetooth",
    "wireless",
    "1080p",
    "neural",
    "optical",
    "solid state",
    "mobile",
];
const NOUNS: &[&str] = &[
    "driver",
    "protocol",
    "bandwidth",
    "panel",
    "microchip",
    "program",
    "port",
    "card",
    "array",
    "interface",
    "system",
    "sensor",
    "firewall",
    "hard drive",
    "pixel",
    "alarm",
    "feed",
    "monitor",
    "application",
    "transmitter",
    "bus",
    "circuit",
    "capacitor",
    "matrix",
];

impl World {
    /// The `appName` Dokploy gives an application created with `requested` (or without one).
    pub(super) fn new_app_name(&mut self, requested: Option<&str>) -> String {
        match requested.filter(|name| !name.is_empty()) {
            Some(name) => {
                let suffix = self.random(PASSWORD_ALPHABET, 6).to_lowercase();
                format!("{}-{suffix}", clean_app_name(name))
            }
            None => {
                let verb = self.word(VERBS);
                let adjective = self.word(ADJECTIVES);
                let noun = self.word(NOUNS);
                let suffix = self.random(NAME_ALPHABET, 6);
                format!("app-{verb}-{adjective}-{noun}-{suffix}")
            }
        }
    }

    /// One word of `words`, its spaces turned to `-`.
    fn word(&mut self, words: &[&str]) -> String {
        words[self.rng.random_range(0..words.len())].replace(' ', "-")
    }
}

/// `cleanAppName`: trimmed, spaces to `-`, lower-cased.
fn clean_app_name(name: &str) -> String {
    name.trim().replace(' ', "-").to_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::super::World;
    use crate::simulator::answer::Answer;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    /// A world with one project; its environment's id.
    fn world_with_environment() -> (World, String) {
        in_a_project(World::for_tests(false, None))
    }

    /// `world` with one project; its environment's id.
    fn in_a_project(mut world: World) -> (World, String) {
        let Ok(Answer::Json(created)) = world.project_create(&map(json!({"name": "p"}))) else {
            panic!("the project is created");
        };
        let environment = created["environment"]["environmentId"]
            .as_str()
            .expect("an id");
        (world, environment.to_owned())
    }

    fn create(world: &mut World, body: Value) -> Result<Value, u16> {
        match world.application_create(&map(body)) {
            Ok(Answer::Json(row)) => Ok(row),
            Ok(_) => panic!("application.create answers its row"),
            Err(failure) => Err(failure.response_body(None)["data"]["httpStatus"]
                .as_u64()
                .and_then(|status| u16::try_from(status).ok())
                .expect("a status")),
        }
    }

    #[test]
    fn an_app_name_is_cleaned_and_suffixed_and_a_missing_one_is_made_of_hacker_words() {
        let (mut world, environment) = world_with_environment();
        let row = create(
            &mut world,
            json!({"name": "a", "appName": "Shop", "environmentId": environment}),
        )
        .expect("created");
        let name = row["appName"].as_str().expect("an appName");
        let suffix = name.strip_prefix("shop-").expect("cleaned and lower-cased");
        assert!(
            suffix.len() == 6
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{name}"
        );
        let row = create(
            &mut world,
            json!({"name": "a", "environmentId": environment}),
        )
        .expect("created");
        let name = row["appName"].as_str().expect("an appName");
        let verb = name.strip_prefix("app-").expect("app-");
        assert!(
            super::VERBS
                .iter()
                .any(|word| verb.starts_with(&word.replace(' ', "-"))),
            "{name}"
        );
        assert_eq!(name.split('-').next_back().map(str::len), Some(6), "{name}");
    }

    #[test]
    fn an_app_name_that_is_taken_is_a_conflict() {
        let (mut first, environment) = world_with_environment();
        let body = json!({"name": "a", "appName": "shop", "environmentId": environment});
        let taken = create(&mut first, body.clone()).expect("created");
        // The same seed draws the same suffix: a second world holding that appName refuses it.
        let (mut second, _) = world_with_environment();
        let mut holder = first.applications.iter().next().expect("one").clone();
        holder.id = "another".to_owned();
        second.app_names.insert(holder.app_name.clone());
        second.applications.push(holder);
        assert_eq!(create(&mut second, body), Err(409), "{taken}");
        assert_eq!(second.applications.iter().count(), 1, "no row was written");
    }

    #[test]
    fn remote_servers_only_needs_a_known_server_id() {
        let (mut world, environment) = in_a_project(World::for_tests(true, Some("srv1")));
        let bare = json!({"name": "a", "environmentId": environment});
        assert_eq!(create(&mut world, bare), Err(401));
        let unknown = json!({"name": "a", "environmentId": environment, "serverId": "srv2"});
        assert_eq!(create(&mut world, unknown), Err(401));
        let known = json!({"name": "a", "environmentId": environment, "serverId": "srv1"});
        assert_eq!(
            create(&mut world, known).expect("created")["serverId"],
            "srv1"
        );
    }
}
