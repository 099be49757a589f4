//! Test support for the world's given/when/then tests: a world on a `ManualClock`, stacks made
//! through the same calls (and bodies) StackLedger's client sends, and short readers of rows,
//! state and health. Compiled for tests only; it never holds behaviour of its own, so what a
//! test shows is what the world does.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Health, World};
use crate::clock::ManualClock;
use crate::deployment::Procedure;
use crate::secret::ApiKey;
use crate::simulator::SimulatorOptions;
use crate::simulator::answer::Answer;

/// A world and the clock its builds run on.
pub(super) struct Given {
    pub(super) world: World,
    pub(super) clock: ManualClock,
}

/// The ids of one stack: a project, its application (with an image) and its domain.
#[derive(Debug, Clone)]
pub(super) struct Stack {
    pub(super) project_id: String,
    pub(super) environment_id: String,
    pub(super) application_id: String,
    pub(super) app_name: String,
    pub(super) domain_id: String,
}

impl Given {
    /// A world with `builds` slots, rows that stay `running` for `deploy_polls` polls, and
    /// builds that take `duration`.
    pub(super) fn new(builds: u32, deploy_polls: u32, duration: Duration) -> Self {
        let clock = ManualClock::new(1_767_225_600_000);
        let key = ApiKey::new("world-test-key-01").expect("a valid key");
        let options = SimulatorOptions {
            builds: NonZeroU32::new(builds).expect("a test asks for at least one slot"),
            deploy_polls: NonZeroU32::new(deploy_polls).expect("at least one poll"),
            build_duration: duration,
            clock: Arc::new(clock.clone()),
            ..SimulatorOptions::new(key, 3)
        };
        Self {
            world: World::new(&options),
            clock,
        }
    }

    /// One call; the answer as JSON (`null` for an empty one), or the failure's status.
    pub(super) fn call(&mut self, procedure: Procedure, input: Value) -> Result<Value, u16> {
        let input: Map<String, Value> = match input {
            Value::Object(input) => input,
            _ => Map::new(),
        };
        match self.world.call(procedure, &input, || None) {
            Ok(Answer::Json(value)) => Ok(value),
            Ok(Answer::Encoded(bytes)) => Ok(serde_json::from_slice(&bytes).expect("JSON")),
            Ok(Answer::Empty) => Ok(Value::Null),
            Err(failure) => Err(failure.response(None).status().as_u16()),
        }
    }

    /// A call that must succeed.
    pub(super) fn ok(&mut self, procedure: Procedure, input: Value) -> Value {
        let answer = self.call(procedure, input.clone());
        answer.unwrap_or_else(|status| panic!("{procedure:?} {input} answered {status}"))
    }

    /// A project with an application `name` (no image yet).
    pub(super) fn bare_app(&mut self, name: &str) -> Stack {
        let created = self.ok(Procedure::ProjectCreate, json!({"name": name}));
        let environment_id = text(&created["environment"]["environmentId"]);
        let app = self.ok(
            Procedure::ApplicationCreate,
            json!({"name": name, "appName": name, "environmentId": environment_id,
                   "sourceType": "docker"}),
        );
        Stack {
            project_id: text(&created["project"]["projectId"]),
            environment_id,
            application_id: text(&app["applicationId"]),
            app_name: text(&app["appName"]),
            domain_id: String::new(),
        }
    }

    /// A stack `name`: a project, an application running `nginx:1.27`, and the domain
    /// `name.example.com`, as StackLedger creates them.
    pub(super) fn stack(&mut self, name: &str) -> Stack {
        let mut stack = self.bare_app(name);
        self.ok(
            Procedure::ApplicationSaveDockerProvider,
            json!({"applicationId": stack.application_id, "dockerImage": "nginx:1.27",
                   "username": null, "password": null, "registryUrl": null}),
        );
        stack.domain_id = self.domain(&stack.application_id, &format!("{name}.example.com"));
        stack
    }

    /// A domain `host` for the application; its id.
    pub(super) fn domain(&mut self, application_id: &str, host: &str) -> String {
        let domain = self.ok(
            Procedure::DomainCreate,
            json!({"host": host, "applicationId": application_id, "domainType": "application",
                   "port": 8080, "https": true, "certificateType": "letsencrypt", "path": "/"}),
        );
        text(&domain["domainId"])
    }

    /// `application.deploy` with this title.
    pub(super) fn deploy(&mut self, application_id: &str, title: &str) {
        let answer = self.ok(
            Procedure::ApplicationDeploy,
            json!({"applicationId": application_id, "title": title}),
        );
        assert_eq!(answer, Value::Null, "a deploy answers an empty 200");
    }

    /// `deployment.all`: (title, status) of each row, newest first.
    pub(super) fn rows(&mut self, application_id: &str) -> Vec<(String, String)> {
        let rows = self.ok(
            Procedure::DeploymentAll,
            json!({"applicationId": application_id}),
        );
        let rows = rows.as_array().expect("a list").iter();
        rows.map(|row| (text(&row["title"]), text(&row["status"])))
            .collect()
    }

    /// Polls `deployment.all` until the newest row is final; its status.
    pub(super) fn until_final(&mut self, application_id: &str) -> String {
        for _ in 0..100 {
            let rows = self.rows(application_id);
            match rows.first() {
                Some((_, status)) if status != "running" => return status.clone(),
                _ => {}
            }
        }
        panic!("no final row after 100 polls");
    }

    /// `GET /__sim/state`.
    pub(super) fn state(&mut self) -> Value {
        self.world.state()
    }

    /// The waiting jobs' titles, oldest first.
    pub(super) fn queued(&mut self) -> Vec<String> {
        let state = self.state();
        let queue = state["queue"].as_array().expect("a queue").iter();
        queue.map(|job| text(&job["title"])).collect()
    }

    /// What `GET /__sim/apps/NAME/health` finds.
    pub(super) fn health(&mut self, name: &str) -> Health {
        self.world.app_health(name)
    }

    /// The application's `applicationStatus`, as `application.one` shows it.
    pub(super) fn app_status(&mut self, application_id: &str) -> String {
        let app = self.ok(
            Procedure::ApplicationOne,
            json!({"applicationId": application_id}),
        );
        text(&app["applicationStatus"])
    }

    /// Moves the build clock forward.
    pub(super) fn wait(&self, duration: Duration) {
        self.clock.advance(duration);
    }
}

/// The string at `value` (empty when it is not one).
pub(super) fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
