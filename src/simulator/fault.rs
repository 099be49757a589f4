//! Scripted faults: what the simulator does wrong, for how many calls, as tests and the demo
//! ask through the Rust API or `POST /__sim/faults` (DESIGN §8 shapes).
//!
//! It decides which armed fault applies to a call, a deploy or a health poll, and uses it up;
//! it never shapes an answer (that is `fault_effect.rs`) and never touches the world.

use serde::{Deserialize, Serialize};

/// How many health polls an app stays unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Polls {
    /// This many polls.
    Count(u32),
    /// Every poll (`"forever"`).
    Forever(Forever),
}

/// The word `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forever {
    /// For ever.
    Forever,
}

/// One scripted fault. Fields left out do nothing (they take `Fault::default()`'s values);
/// `times` (default 1) counts the calls it applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Fault {
    /// The procedure it applies to (`application.create`), any case.
    pub path: Option<String>,
    /// Answer with this error status instead.
    pub status: Option<u16>,
    /// With `status`: send `Retry-After` with this many seconds.
    pub retry_after: Option<u64>,
    /// With `status`: send this exact `Retry-After` value (an HTTP date, or garbage).
    pub retry_after_raw: Option<String>,
    /// Answer this many milliseconds late.
    pub delay_ms: Option<u64>,
    /// Close the connection without an answer.
    pub drop: bool,
    /// With `drop`: do what was asked first (the create happens, the answer is lost).
    pub after_effect: bool,
    /// Never answer.
    pub hang: bool,
    /// Answer 200 with a body that is not JSON.
    pub malformed: bool,
    /// Answer 200 with a JSON body of this many bytes.
    pub huge_bytes: Option<usize>,
    /// The next deploys end with this status (`error` or `cancelled`).
    pub deploy_outcome: Option<String>,
    /// The deployed app of this name answers its health check with 503.
    pub unhealthy: Option<String>,
    /// With `unhealthy`: for how many polls.
    pub polls: Option<Polls>,
    /// How many calls it applies to (default 1).
    pub times: Option<u32>,
}

impl Fault {
    /// A fault on one procedure.
    pub fn on(path: &str) -> Self {
        Self {
            path: Some(path.to_owned()),
            ..Self::default()
        }
    }

    /// Applies to the next `times` calls.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Answers with `status`.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Whether this is a fault on API calls (rather than on deploy outcomes or app health).
    fn is_call_fault(&self) -> bool {
        self.path.is_some()
    }
}

/// A fault with its remaining count.
#[derive(Debug, Clone)]
struct Armed {
    fault: Fault,
    remaining: Option<u32>,
}

/// The faults waiting to apply, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    armed: Vec<Armed>,
}

impl FaultPlan {
    pub(crate) fn add(&mut self, fault: Fault) {
        let remaining = match (&fault.unhealthy, fault.polls) {
            (Some(_), Some(Polls::Forever(_))) => None,
            (Some(_), Some(Polls::Count(polls))) => Some(polls),
            _ => Some(fault.times.unwrap_or(1)),
        };
        self.armed.push(Armed { fault, remaining });
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }

    /// The first fault armed for `procedure`, used up once.
    pub(crate) fn take_call(&mut self, procedure: &str) -> Option<Fault> {
        self.take(|fault| {
            fault.is_call_fault()
                && fault
                    .path
                    .as_deref()
                    .is_some_and(|path| path.eq_ignore_ascii_case(procedure))
        })
    }

    /// The outcome forced on the next deploy, used up once.
    pub(crate) fn take_deploy_outcome(&mut self) -> Option<String> {
        self.take(|fault| fault.deploy_outcome.is_some())
            .and_then(|fault| fault.deploy_outcome)
    }

    /// Whether the app `name` is to fail this health poll (uses one poll up).
    pub(crate) fn take_unhealthy(&mut self, name: &str) -> bool {
        self.take(|fault| fault.unhealthy.as_deref() == Some(name))
            .is_some()
    }

    fn take(&mut self, wanted: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let index = self.armed.iter().position(|armed| {
            wanted(&armed.fault) && armed.remaining.is_none_or(|remaining| remaining > 0)
        })?;
        let armed = &mut self.armed[index];
        let fault = armed.fault.clone();
        if let Some(remaining) = armed.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                self.armed.remove(index);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_shapes_parse() {
        for json in [
            r#"{"path": "application.create", "status": 503, "times": 2}"#,
            r#"{"path": "project.all", "status": 429, "retryAfter": 1, "times": 1}"#,
            r#"{"path": "domain.create", "delayMs": 3000, "times": 1}"#,
            r#"{"path": "application.create", "drop": true, "afterEffect": true, "times": 1}"#,
            r#"{"deployOutcome": "error", "times": 1}"#,
            r#"{"unhealthy": "shop", "polls": 5}"#,
            r#"{"unhealthy": "shop", "polls": "forever"}"#,
        ] {
            serde_json::from_str::<Fault>(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        }
        assert!(serde_json::from_str::<Fault>(r#"{"pth": "x"}"#).is_err());
    }

    #[test]
    fn a_fault_applies_its_number_of_times_to_its_procedure_only() {
        let mut plan = FaultPlan::default();
        plan.add(Fault::on("Application.Create").status(503).times(2));
        assert!(plan.take_call("project.all").is_none());
        assert!(plan.take_call("application.create").is_some());
        assert!(plan.take_call("application.create").is_some());
        assert!(plan.take_call("application.create").is_none());
    }

    #[test]
    fn unhealthy_counts_polls_or_lasts_forever() {
        let mut plan = FaultPlan::default();
        let two: Fault = serde_json::from_str(r#"{"unhealthy": "a", "polls": 2}"#).expect("parses");
        let ever: Fault =
            serde_json::from_str(r#"{"unhealthy": "b", "polls": "forever"}"#).expect("parses");
        plan.add(two);
        plan.add(ever);
        assert!(plan.take_unhealthy("a") && plan.take_unhealthy("a"));
        assert!(!plan.take_unhealthy("a"));
        for _ in 0..100 {
            assert!(plan.take_unhealthy("b"));
        }
    }
}
