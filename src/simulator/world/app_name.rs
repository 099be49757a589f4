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
