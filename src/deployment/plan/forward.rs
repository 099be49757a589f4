//! The forward phases as decisions: each phase is entered once, skipped when its events say it
//! is done, and each create is preceded by a lookup (Dokploy does not refuse duplicates). A
//! resource a lookup finds is ours when this deployment had already tried to create it (the
//! create's answer was lost), someone else's otherwise, and then never rolled back.

use crate::deployment::plan::{
    CallFailure, Executed, FailureClass, FailureCode, Settings, Step, fail, polling,
};
use crate::deployment::request::{AnswerExt, AnswerMismatch};
use crate::deployment::saga::SagaState;
use crate::deployment::{ApiAnswer, Event, Phase, Procedure, Request, ResourceId, ResourceKind};

/// The next forward step.
pub(super) fn next(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    executed: &Executed,
) -> Step {
    if !state.has(ResourceKind::Project) {
        return project(state, executed);
    }
    if !state.has(ResourceKind::Environment) {
        return environment(state, executed);
    }
    if !state.has(ResourceKind::Application) {
        return application(state, executed);
    }
    let configured = matches!(
        executed,
        Executed::Called {
            request: Request::SaveDockerProvider { .. },
            result: Ok(_),
        }
    );
    if !passed(state, Phase::ConfiguringApplication) && !configured {
        return configure(state, settings, executed);
    }
    if !state.has(ResourceKind::Domain) {
        return domain(state, settings, executed);
    }
    match polling::deploy(state, settings, now_ms, executed) {
        Some(step) => step,
        None => polling::health(state, settings, now_ms, executed),
    }
}

fn project(state: &SagaState, executed: &Executed) -> Step {
    let phase = Phase::CreatingProject;
    if let Some(step) = enter(state, phase) {
        return step;
    }
    let name = state.name.clone();
    let wanted = Wanted {
        phase,
        kind: ResourceKind::Project,
        find: Request::FindProject { name: name.clone() },
        create: Request::CreateProject { name },
        id_of: |answer, procedure| {
            let project = answer.project(procedure)?;
            Ok(project.map(|project| project.project_id))
        },
        nothing: "answered no project",
    };
    find_or_create(state, &wanted, executed)
}

/// The project's default environment: the one the project step's answer named in this run,
/// else a new lookup of the project.
fn environment(state: &SagaState, executed: &Executed) -> Step {
    let phase = Phase::GettingEnvironment;
    if let Some(step) = enter(state, phase) {
        return step;
    }
    let found = |id: ResourceId| {
        Step::record(Event::ResourceFound {
            kind: ResourceKind::Environment,
            id,
        })
    };
    if let Some(id) = &state.run.project_environment {
        return found(id.clone());
    }
    match executed {
        Executed::Called {
            request: request @ Request::FindProject { .. },
            result: Ok(answer),
        } => match answer.clone().project(request.procedure()) {
            Err(mismatch) => bad_answer(phase, &mismatch),
            Ok(project) => match project.and_then(|project| project.environment_id) {
                Some(id) => found(id),
                None => fail(
                    phase,
                    FailureCode::NoEnvironment,
                    "the project has no default environment",
                ),
            },
        },
        Executed::Called {
            request,
            result: Err(f),
        } => failed_call(phase, request, f),
        _ => Step::call(Request::FindProject {
            name: state.name.clone(),
        }),
    }
}

fn application(state: &SagaState, executed: &Executed) -> Step {
    let phase = Phase::CreatingApplication;
    if let Some(step) = enter(state, phase) {
        return step;
    }
    let Some(environment_id) = state.resources.get(ResourceKind::Environment).cloned() else {
        return missing(phase, ResourceKind::Environment);
    };
    let name = state.name.clone();
    let wanted = Wanted {
        phase,
        kind: ResourceKind::Application,
        find: Request::FindApplication {
            environment_id: environment_id.clone(),
            name: name.clone(),
        },
        create: Request::CreateApplication {
            environment_id,
            name,
        },
        id_of: |answer, procedure| {
            let application = answer.application(procedure)?;
            Ok(application.map(|application| application.application_id))
        },
        nothing: "answered nothing",
    };
    find_or_create(state, &wanted, executed)
}

fn configure(state: &SagaState, settings: &Settings, executed: &Executed) -> Step {
    let phase = Phase::ConfiguringApplication;
    if let Some(step) = enter(state, phase) {
        return step;
    }
    let Some(application_id) = state.resources.get(ResourceKind::Application).cloned() else {
        return missing(phase, ResourceKind::Application);
    };
    match executed {
        Executed::Called {
            request,
            result: Err(f),
        } => failed_call(phase, request, f),
        _ => Step::call(Request::SaveDockerProvider {
            application_id,
            image: settings.image.clone(),
        }),
    }
}

fn domain(state: &SagaState, settings: &Settings, executed: &Executed) -> Step {
    let phase = Phase::CreatingDomain;
    if let Some(step) = enter(state, phase) {
        return step;
    }
    let Some(application_id) = state.resources.get(ResourceKind::Application).cloned() else {
        return missing(phase, ResourceKind::Application);
    };
    let host = settings.host(&state.name);
    let wanted = Wanted {
        phase,
        kind: ResourceKind::Domain,
        find: Request::FindDomain {
            application_id: application_id.clone(),
            host: host.clone(),
        },
        create: Request::CreateDomain {
            application_id,
            host,
            port: settings.port,
        },
        id_of: |answer, procedure| answer.domain(procedure),
        nothing: "answered nothing",
    };
    find_or_create(state, &wanted, executed)
}

/// One find-or-create step.
struct Wanted {
    phase: Phase,
    kind: ResourceKind,
    find: Request,
    create: Request,
    /// The id in an answer to `procedure` (None: nothing found), or why it is the wrong answer.
    id_of: fn(ApiAnswer, Procedure) -> Result<Option<ResourceId>, AnswerMismatch>,
    /// How a create that answered no resource is described.
    nothing: &'static str,
}

fn find_or_create(state: &SagaState, wanted: &Wanted, executed: &Executed) -> Step {
    let phase = wanted.phase;
    match executed {
        Executed::Called {
            request,
            result: Ok(answer),
        } if *request == wanted.find => {
            match (wanted.id_of)(answer.clone(), wanted.find.procedure()) {
                Err(mismatch) => bad_answer(phase, &mismatch),
                Ok(Some(id)) => found(state, wanted.kind, id, wanted.create.procedure()),
                Ok(None) => Step::call(wanted.create.clone()),
            }
        }
        Executed::Called {
            request,
            result: Ok(answer),
        } if *request == wanted.create => {
            let procedure = wanted.create.procedure();
            match (wanted.id_of)(answer.clone(), procedure) {
                Err(mismatch) => bad_answer(phase, &mismatch),
                Ok(Some(id)) => Step::record(Event::ResourceCreated {
                    kind: wanted.kind,
                    id,
                }),
                Ok(None) => fail(
                    phase,
                    FailureCode::DokployBadAnswer,
                    format!("{procedure} {}", wanted.nothing),
                ),
            }
        }
        Executed::Called {
            request,
            result: Err(f),
        } => failed_call(phase, request, f),
        _ => Step::call(wanted.find.clone()),
    }
}

/// Records a resource a lookup found: ours if this deployment had already tried to create it
/// (the create's answer was lost), someone else's otherwise.
fn found(state: &SagaState, kind: ResourceKind, id: ResourceId, create: Procedure) -> Step {
    if state.attempted(create) {
        Step::record(Event::ResourceCreated { kind, id })
    } else {
        Step::record(Event::ResourceFound { kind, id })
    }
}

/// Enters `phase` unless the deployment is there or past it already.
pub(super) fn enter(state: &SagaState, phase: Phase) -> Option<Step> {
    (index(state.phase) < index(phase)).then(|| Step::record(Event::PhaseEntered { phase }))
}

/// Whether the deployment is past `phase`.
fn passed(state: &SagaState, phase: Phase) -> bool {
    index(state.phase) > index(phase)
}

fn index(phase: Phase) -> usize {
    Phase::ALL
        .iter()
        .position(|candidate| *candidate == phase)
        .expect("Phase::ALL lists every phase")
}

/// The failure of `phase`, which needs a `kind` that is not recorded.
pub(super) fn missing(phase: Phase, kind: ResourceKind) -> Step {
    let message = format!("no {kind} is recorded");
    fail(phase, FailureCode::MissingResource, message)
}

/// The failure of `phase` after `request` failed for good, in our words: the public views
/// show this message, so it never quotes Dokploy (whose scrubbed text stays in the call's
/// `ApiCallFailed`, for the ops API and the audit page).
pub(super) fn failed_call(phase: Phase, request: &Request, failure: &CallFailure) -> Step {
    let message = call_failure_message(request.procedure(), failure.class);
    fail(phase, FailureCode::of_call(failure.class), message)
}

/// What a person reads about a call that failed for good: the procedure, what happened, and
/// what to check.
pub(super) fn call_failure_message(procedure: Procedure, class: FailureClass) -> String {
    match class {
        FailureClass::Status { status } if status >= 500 || status == 408 || status == 429 => {
            format!("Dokploy answered {status} to {procedure}; retries are used up")
        }
        FailureClass::Status { status: 401 | 403 } => format!(
            "Dokploy refused {procedure}: the API key lacks a permission, or the install needs a \
             setting (the ops timeline has Dokploy's answer)"
        ),
        FailureClass::Status { status } => format!(
            "Dokploy refused {procedure} with {status} (the ops timeline has Dokploy's answer)"
        ),
        FailureClass::NoRoute => format!(
            "Dokploy has no route for {procedure}: check DOKPLOY_URL (or a proxy in front of \
             Dokploy, or a Dokploy version without {procedure})"
        ),
        FailureClass::Unreachable => {
            format!("Dokploy did not answer {procedure}; retries are used up")
        }
        FailureClass::Unauthorized => {
            "Dokploy refused the API key: check DOKPLOY_API_KEY".to_owned()
        }
        FailureClass::BadAnswer => {
            format!("Dokploy's answer to {procedure} was not what {procedure} returns")
        }
        FailureClass::Unavailable { .. } => {
            format!("Dokploy is failing, so {procedure} was not sent (circuit breaker open)")
        }
    }
}

pub(super) fn bad_answer(phase: Phase, mismatch: &AnswerMismatch) -> Step {
    fail(phase, FailureCode::DokployBadAnswer, mismatch.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::plan::fixtures::{T0, configured, failure, given, settings};

    #[test]
    fn a_phase_whose_resource_is_not_recorded_fails_as_missing_resource() {
        // `next` never reaches a phase before the one recording what it needs; the guard
        // stays, so that a history this code does not expect fails instead of guessing.
        let mut state = given(configured()).live();
        state.resources.application = None;
        let executed = Executed::Recorded;
        let expected = failure(
            Phase::ConfiguringApplication,
            "missing_resource",
            "no application is recorded",
        );
        assert_eq!(configure(&state, &settings(), &executed), expected);
        let step = polling::deploy(&state, &settings(), T0, &executed);
        let expected = Some(record_phase(Phase::Deploying));
        assert_eq!(step, expected, "the phase is entered first");
        state.phase = Phase::Deploying;
        let step = polling::deploy(&state, &settings(), T0, &executed);
        assert_eq!(
            step,
            Some(failure(
                Phase::Deploying,
                "missing_resource",
                "no application is recorded"
            ))
        );
        state.resources.environment = None;
        state.phase = Phase::CreatingApplication;
        assert_eq!(
            application(&state, &executed),
            failure(
                Phase::CreatingApplication,
                "missing_resource",
                "no environment is recorded"
            )
        );
    }

    #[test]
    fn a_failed_call_is_told_in_our_words_naming_the_procedure_never_dokploys() {
        let create = Procedure::ApplicationCreate;
        let cases = [
            (
                FailureClass::Status { status: 500 },
                "Dokploy answered 500 to application.create; retries are used up",
            ),
            (
                FailureClass::NoRoute,
                "Dokploy has no route for application.create: check DOKPLOY_URL",
            ),
            (
                FailureClass::Unreachable,
                "Dokploy did not answer application.create; retries are used up",
            ),
            (
                FailureClass::Status { status: 400 },
                "Dokploy refused application.create with 400",
            ),
        ];
        for (class, expected) in cases {
            let message = call_failure_message(create, class);
            assert!(message.starts_with(expected), "{message}");
        }
        let state = given([crate::deployment::plan::fixtures::phase(
            Phase::CreatingProject,
        )])
        .live();
        let request = Request::FindProject { name: "x".into() };
        let failure = CallFailure {
            class: FailureClass::Status { status: 401 },
            message: "Dokploy answered 401: Invalid API key sk_live_secret".into(),
        };
        let executed = Executed::Called {
            request,
            result: Err(failure),
        };
        let Step::Record {
            event: Event::DeploymentFailed { message, .. },
            ..
        } = project(&state, &executed)
        else {
            panic!("the phase fails");
        };
        assert!(message.contains("project.search"), "{message}");
        assert!(!message.contains("Invalid API key"), "{message}");
    }

    fn record_phase(phase: Phase) -> Step {
        Step::record(Event::PhaseEntered { phase })
    }
}
