//! Dokploy's procedures, in one table: each one's name (the path under `/api/`), its HTTP
//! method, and for a create the lookup that finds what it would have made.
//!
//! Dokploy's REST layer is tRPC underneath (`dokploy-behaviour.md`): queries are GET with URL
//! parameters, mutations POST with a JSON body. The ledger records a call's procedure by its
//! name (`ApiCallStarted.endpoint`), so a name here is part of the persisted form: never
//! change one. This is the only place a procedure name is written; everything else names a
//! [`Procedure`]. This file performs no I/O.

use std::fmt;

use crate::deployment::HttpMethod;

/// One Dokploy procedure that StackLedger calls or its simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Procedure {
    /// `GET project.all`: every project with its environments.
    ProjectAll,
    /// `GET project.one`: one project.
    ProjectOne,
    /// `POST project.create`: a project and its default environment.
    ProjectCreate,
    /// `POST project.remove`: deletes a project's rows.
    ProjectRemove,
    /// `GET environment.one`: an environment with its applications.
    EnvironmentOne,
    /// `POST application.create`.
    ApplicationCreate,
    /// `GET application.one`.
    ApplicationOne,
    /// `POST application.saveDockerProvider`: the image an application runs.
    ApplicationSaveDockerProvider,
    /// `POST application.deploy`: queues a build (an empty answer).
    ApplicationDeploy,
    /// `POST application.delete`.
    ApplicationDelete,
    /// `POST domain.create`.
    DomainCreate,
    /// `GET domain.byApplicationId`: an application's domains.
    DomainByApplicationId,
    /// `POST domain.delete`.
    DomainDelete,
    /// `GET deployment.all`: an application's deployment rows, newest first.
    DeploymentAll,
    /// `GET domain.one`: one domain.
    DomainOne,
    /// `GET project.search`: the projects whose name contains a text, a page at a time
    /// (Dokploy v0.28.3 and later).
    ProjectSearch,
}

/// One row of the procedure table.
struct Entry {
    procedure: Procedure,
    name: &'static str,
    method: HttpMethod,
    /// For a create: the procedure that finds what it would have made.
    lookup: Option<Procedure>,
}

const fn entry(
    procedure: Procedure,
    name: &'static str,
    method: HttpMethod,
    lookup: Option<Procedure>,
) -> Entry {
    Entry {
        procedure,
        name,
        method,
        lookup,
    }
}

/// The table, in the order of [`Procedure`]'s variants.
const TABLE: [Entry; 16] = {
    use HttpMethod::{Get, Post};
    use Procedure::*;
    [
        entry(ProjectAll, "project.all", Get, None),
        entry(ProjectOne, "project.one", Get, None),
        entry(ProjectCreate, "project.create", Post, Some(ProjectSearch)),
        entry(ProjectRemove, "project.remove", Post, None),
        entry(EnvironmentOne, "environment.one", Get, None),
        entry(
            ApplicationCreate,
            "application.create",
            Post,
            Some(EnvironmentOne),
        ),
        entry(ApplicationOne, "application.one", Get, None),
        entry(
            ApplicationSaveDockerProvider,
            "application.saveDockerProvider",
            Post,
            None,
        ),
        entry(ApplicationDeploy, "application.deploy", Post, None),
        entry(ApplicationDelete, "application.delete", Post, None),
        entry(
            DomainCreate,
            "domain.create",
            Post,
            Some(DomainByApplicationId),
        ),
        entry(DomainByApplicationId, "domain.byApplicationId", Get, None),
        entry(DomainDelete, "domain.delete", Post, None),
        entry(DeploymentAll, "deployment.all", Get, None),
        entry(DomainOne, "domain.one", Get, None),
        entry(ProjectSearch, "project.search", Get, None),
    ]
};

impl Procedure {
    /// Every procedure, in table order.
    pub const ALL: [Procedure; 16] = {
        let mut all = [Procedure::ProjectAll; 16];
        let mut index = 0;
        while index < TABLE.len() {
            all[index] = TABLE[index].procedure;
            index += 1;
        }
        all
    };

    fn entry(self) -> &'static Entry {
        let entry = &TABLE[self as usize];
        debug_assert_eq!(entry.procedure, self, "TABLE is in variant order");
        entry
    }

    /// The name Dokploy serves it under (`application.create`), as the ledger records it.
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// GET for a query, POST for a mutation.
    pub fn method(self) -> HttpMethod {
        self.entry().method
    }

    /// For a create, the query that finds what it would have made (a create whose outcome
    /// is unknown is looked up before it is sent again).
    pub fn lookup(self) -> Option<Procedure> {
        self.entry().lookup
    }

    /// The procedure served under `name`, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Procedure> {
        TABLE
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| entry.procedure)
    }
}

impl fmt::Display for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_variant_order_and_names_round_trip() {
        for (index, procedure) in Procedure::ALL.iter().enumerate() {
            assert_eq!(*procedure as usize, index, "{procedure:?} is out of place");
            assert_eq!(Procedure::from_name(procedure.name()), Some(*procedure));
        }
        assert_eq!(Procedure::from_name("project.al"), None);
        assert_eq!(
            Procedure::ApplicationCreate.to_string(),
            "application.create"
        );
    }

    #[test]
    fn queries_are_get_mutations_post_and_only_creates_have_a_lookup() {
        for procedure in Procedure::ALL {
            let query = procedure.name().ends_with(".all")
                || procedure.name().ends_with(".one")
                || procedure.name().ends_with(".search")
                || procedure.name().contains(".by");
            let expected = if query {
                HttpMethod::Get
            } else {
                HttpMethod::Post
            };
            assert_eq!(procedure.method(), expected, "{procedure}");
            let create = procedure.name().ends_with(".create");
            assert_eq!(procedure.lookup().is_some(), create, "{procedure}");
            if let Some(lookup) = procedure.lookup() {
                assert_eq!(lookup.method(), HttpMethod::Get, "{procedure}'s lookup");
            }
        }
    }
}
