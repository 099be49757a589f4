//! What Dokploy runs, apart from its database rows: the Swarm services (one per `appName`,
//! created or updated when a build ends `done`) and the Traefik routes (one per domain, from
//! its host to its application's service, written by `domain.create`, removed by
//! `domain.delete` and by `application.delete`), and the deployed apps' health answered
//! through them.
//!
//! Rows and what runs are kept apart on purpose, because Dokploy keeps them apart:
//! `project.remove` deletes rows only, so its apps' services and routes stay up and still
//! answer (M1), and a build that was running when its application was deleted creates its
//! service again when it ends (an orphan). This file never reads or writes a row but through
//! the world's lookups, and never decides when a build ends.

use serde_json::{Value, json};

use super::World;
use super::queue::Build;
use super::table::Row;

/// A Swarm service.
#[derive(Debug, Clone)]
pub(super) struct Service {
    pub(super) app_name: String,
    /// The application it was deployed for (kept when that row is gone).
    pub(super) application_id: String,
    pub(super) image: Option<String>,
    /// Whether it runs (Dokploy's stop is not simulated, so a service that exists runs).
    pub(super) running: bool,
}

impl Row for Service {
    fn id(&self) -> &str {
        &self.app_name
    }

    fn parent(&self) -> &str {
        &self.application_id
    }
}

/// A Traefik route: a domain's host to an application's service.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) domain_id: String,
    pub(super) host: String,
    pub(super) app_name: String,
}

impl Row for Route {
    fn id(&self) -> &str {
        &self.domain_id
    }

    fn parent(&self) -> &str {
        &self.app_name
    }

    /// The host's first label: the stack name the health route is asked for.
    fn label(&self) -> Option<&str> {
        self.host.split('.').next()
    }
}

/// What `GET /__sim/apps/NAME/health` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::simulator) enum Health {
    /// A route leads to a running service (200).
    Up,
    /// Routes exist, but no service behind them runs (502).
    BadGateway,
    /// Only an application row of that name exists (503).
    NotDeployed,
    /// Nothing of that name (404).
    Unknown,
}

impl World {
    /// The app named `name`, as its routes answer: a route whose host's first label is
    /// `name` to a running service is up, whatever the rows say.
    pub(in crate::simulator) fn app_health(&mut self, name: &str) -> Health {
        self.advance();
        let mut routed = false;
        for route in self.routes.labelled(name) {
            routed = true;
            if self
                .services
                .get(&route.app_name)
                .is_some_and(|service| service.running)
            {
                return Health::Up;
            }
        }
        match (routed, self.applications.labelled(name).next()) {
            (true, _) => Health::BadGateway,
            (false, Some(_)) => Health::NotDeployed,
            (false, None) => Health::Unknown,
        }
    }

    /// A `done` build's service runs its image (created, or updated in place).
    pub(super) fn run_service(&mut self, build: &Build) {
        if let Some(service) = self.services.get_mut(&build.app_name) {
            service.image.clone_from(&build.image);
            service.running = true;
            return;
        }
        self.services.push(Service {
            app_name: build.app_name.clone(),
            application_id: build.application_id.clone(),
            image: build.image.clone(),
            running: true,
        });
    }

    /// Writes the route of the domain row just created, if it belongs to an application.
    pub(super) fn write_route_of_newest_domain(&mut self) {
        let Some(domain) = self.domains.last() else {
            return;
        };
        let Ok(application) = self.application(&domain.application_id) else {
            return;
        };
        let route = Route {
            domain_id: domain.id.clone(),
            host: domain.host.clone(),
            app_name: application.app_name.clone(),
        };
        self.routes.push(route);
    }

    /// Removes the route of this domain.
    pub(super) fn remove_route(&mut self, domain_id: &str) {
        self.routes.remove(domain_id);
    }

    /// `application.delete`'s clean-up: the app's Traefik file and its Swarm service go.
    pub(super) fn remove_routes_and_service(&mut self, app_name: &str) {
        for domain_id in self.routes.child_ids(app_name) {
            self.routes.remove(&domain_id);
        }
        self.services.remove(app_name);
    }

    /// The services, oldest first, as `GET /__sim/state` lists them.
    pub(super) fn services_json(&self) -> Vec<Value> {
        let services = self.services.iter();
        services
            .map(|service| {
                json!({
                    "appName": service.app_name, "applicationId": service.application_id,
                    "image": service.image, "running": service.running,
                })
            })
            .collect()
    }

    /// The routes, oldest first, as `GET /__sim/state` lists them.
    pub(super) fn routes_json(&self) -> Vec<Value> {
        let routes = self.routes.iter();
        routes
            .map(|route| {
                json!({"host": route.host, "domainId": route.domain_id, "appName": route.app_name})
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::given::Given;
    use super::Health;
    use crate::deployment::Procedure;

    #[test]
    fn health_follows_the_routes_and_services_not_the_rows() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        assert_eq!(given.health("alpha"), Health::Unknown);
        let a = given.bare_app("alpha");
        assert_eq!(
            given.health("alpha"),
            Health::NotDeployed,
            "a row, no route"
        );
        let domain = given.domain(&a.application_id, "alpha.example.com");
        assert_eq!(
            given.health("alpha"),
            Health::BadGateway,
            "a route, no service"
        );
        given.ok(
            Procedure::ApplicationSaveDockerProvider,
            json!({"applicationId": a.application_id, "dockerImage": "nginx:1.27",
                   "username": null, "password": null, "registryUrl": null}),
        );
        given.deploy(&a.application_id, "a1");
        assert_eq!(given.health("alpha"), Health::BadGateway, "still building");
        assert_eq!(given.until_final(&a.application_id), "done");
        assert_eq!(given.health("alpha"), Health::Up);
        assert_eq!(
            given.health("alph"),
            Health::Unknown,
            "the first label, exactly"
        );
        given.ok(Procedure::DomainDelete, json!({"domainId": domain}));
        assert_eq!(
            given.health("alpha"),
            Health::NotDeployed,
            "no route any more"
        );
    }

    #[test]
    fn a_failed_redeploy_leaves_the_running_service_up() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        given.deploy(&a.application_id, "a1");
        given.until_final(&a.application_id);
        let input = json!({"applicationId": a.application_id, "title": "a2"});
        let input = input.as_object().expect("an object").clone();
        let forced = || Some("error".to_owned());
        assert!(
            given
                .world
                .call(Procedure::ApplicationDeploy, &input, forced)
                .is_ok()
        );
        assert_eq!(given.until_final(&a.application_id), "error");
        assert_eq!(given.health("alpha"), Health::Up);
        let routes = given.state()["routes"].clone();
        let expected = json!([{"host": "alpha.example.com", "domainId": a.domain_id,
                               "appName": a.app_name}]);
        assert_eq!(routes, expected);
    }
}
