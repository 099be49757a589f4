//! Comparing two read models by what they answer (get, holder, list with every filter and
//! paging, summary, figures, in flight, operators), never by their insides: a model that has
//! moved deployments to disk is laid out differently from a plain fold yet must answer the same.
//!
//! For tests and tools; it never changes either model and must not be used on a hot path (it
//! asks every query of every deployment).

use std::collections::BTreeSet;

use crate::deployment::DeploymentStatus;
use crate::ids::DeploymentId;
use crate::projection::deployment::DeploymentState;
use crate::projection::read_model::{ListQuery, ReadError, ReadModel};

type Answer = Result<Vec<DeploymentState>, ReadError>;

fn listed(model: &ReadModel, query: &ListQuery) -> Answer {
    Ok(model
        .list(query)?
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect())
}

/// The queries worth asking of `model`: every status, every name and some parts of names (its
/// first letter, letters 2 to 4, its last two), a text holding a 0 byte, several page sizes.
fn queries(names: &BTreeSet<String>) -> Vec<ListQuery> {
    let mut texts: BTreeSet<Option<String>> =
        [None, Some(String::new()), Some("p\0s".into())].into();
    for name in names {
        let chars: Vec<char> = name.chars().collect();
        texts.insert(Some(name.clone()));
        texts.insert(Some(chars.iter().take(1).collect()));
        texts.insert(Some(chars.iter().skip(1).take(3).collect()));
        texts.insert(Some(
            chars.iter().skip(chars.len().saturating_sub(2)).collect(),
        ));
    }
    let statuses = [
        None,
        Some(DeploymentStatus::InProgress),
        Some(DeploymentStatus::Success),
        Some(DeploymentStatus::Failure),
    ];
    let mut queries = Vec::new();
    for status in statuses {
        for name in &texts {
            for limit in [0, 1, 2, usize::MAX] {
                queries.push(ListQuery {
                    status,
                    name: name.clone(),
                    limit,
                    before: None,
                });
            }
        }
    }
    queries
}

/// Where `a` and `b` answer differently, one sentence each (empty: the same answers).
pub fn differences(a: &ReadModel, b: &ReadModel) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = |what: String, left: String, right: String| {
        if left != right {
            found.push(format!("{what}: {left} != {right}"));
        }
    };
    let figures = |model: &ReadModel| {
        let (summary, figures) = (model.summary(), model.figures());
        format!(
            "{summary:?} {figures:?} {:?} {:?}",
            model.in_flight(),
            model.operators()
        )
    };
    check("figures".into(), figures(a), figures(b));
    let all = ListQuery {
        limit: usize::MAX,
        ..ListQuery::default()
    };
    let (every_a, every_b) = (listed(a, &all), listed(b, &all));
    check(
        "list all".into(),
        format!("{every_a:?}"),
        format!("{every_b:?}"),
    );
    let states: Vec<DeploymentState> = every_a.into_iter().chain(every_b).flatten().collect();
    let names: BTreeSet<String> = states.iter().map(|state| state.name.clone()).collect();
    let mut ids: Vec<Option<DeploymentId>> = states.iter().map(|state| Some(state.id)).collect();
    ids.push(None);
    ids.push(Some(DeploymentId::SYSTEM));
    for state in &states {
        let (left, right) = (a.get(state.id), b.get(state.id));
        check(
            format!("get {}", state.id),
            format!("{left:?}"),
            format!("{right:?}"),
        );
    }
    for name in &names {
        let (left, right) = (a.holder(name), b.holder(name));
        check(
            format!("holder {name}"),
            format!("{left:?}"),
            format!("{right:?}"),
        );
    }
    for query in queries(&names) {
        let pages: &[Option<DeploymentId>] = if query.limit == 2 { &ids } else { &[None] };
        for before in pages {
            let query = ListQuery {
                before: *before,
                ..query.clone()
            };
            let (left, right) = (listed(a, &query), listed(b, &query));
            check(
                format!("list {query:?}"),
                format!("{left:?}"),
                format!("{right:?}"),
            );
        }
    }
    found
}

/// Panics, naming the first few differences, unless `a` and `b` answer every query the same.
pub fn assert_same_answers(a: &ReadModel, b: &ReadModel) {
    let found = differences(a, b);
    assert!(
        found.is_empty(),
        "{} answers differ, first: {:#?}",
        found.len(),
        &found[..found.len().min(3)]
    );
}
