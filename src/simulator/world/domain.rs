//! Dokploy's `domain` router: the domain rows, their JSON shape, and `domain.create` (an RFC
//! 1123 host and a port in range, or zod issues; an unknown application is a 400, as Dokploy
//! turns every handler error of `domain.create` into one), `domain.byApplicationId` (each row
//! with its application) and `domain.delete`.
//!
//! Validation comes before any row is written: a refused create never writes a row, draws an
//! id or moves the world's time.

use serde_json::{Map, Value, json};

use super::World;
use super::input::{issue, optional_string, required_one};
use crate::simulator::answer::{Answer, Failure};

/// One domain row.
#[derive(Debug, Clone)]
pub(super) struct DomainRecord {
    pub(super) id: String,
    pub(super) host: String,
    pub(super) application_id: String,
    pub(super) port: u16,
    pub(super) https: bool,
    pub(super) certificate_type: String,
    pub(super) path: String,
    pub(super) created_at: String,
}

impl World {
    /// `domain.create`.
    pub(super) fn domain_create(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let host = required_one(input, "host")?.trim().to_owned();
        if !is_hostname(&host) {
            return Err(Failure::invalid(vec![issue("host", "Invalid hostname")]));
        }
        let application_id = optional_string(input, "applicationId").unwrap_or_default();
        if self.application(&application_id).is_err() {
            // Dokploy turns every handler error of domain.create into a 400.
            return Err(Failure::bad_request("Application not found"));
        }
        let port = input.get("port").and_then(Value::as_u64).unwrap_or(3000);
        let port = u16::try_from(port)
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| Failure::invalid(vec![issue("port", "Invalid port")]))?;
        let domain = DomainRecord {
            id: self.id(),
            host,
            application_id,
            port,
            https: input.get("https").and_then(Value::as_bool).unwrap_or(false),
            certificate_type: optional_string(input, "certificateType")
                .unwrap_or_else(|| "none".to_owned()),
            path: optional_string(input, "path").unwrap_or_else(|| "/".to_owned()),
            created_at: self.now(),
        };
        let answer = domain_json(&domain);
        self.domains.push(domain);
        Ok(Answer::Json(answer))
    }

    /// `domain.byApplicationId`: the application's domains, each with its application.
    pub(super) fn domain_by_application_id(
        &self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let application_id = required_one(input, "applicationId")?;
        let rows = self
            .domains
            .children(&application_id)
            .map(|domain| {
                let mut row = domain_json(domain);
                if let (Some(row), Ok(app)) =
                    (row.as_object_mut(), self.application(&application_id))
                {
                    row.insert(
                        "application".to_owned(),
                        json!({"applicationId": app.id, "appName": app.app_name, "name": app.name}),
                    );
                }
                row
            })
            .collect();
        Ok(Answer::Json(Value::Array(rows)))
    }

    /// `domain.one`: the domain, or Dokploy's 404.
    pub(super) fn domain_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "domainId")?;
        let domain = self.domains.get(&id);
        let domain = domain.ok_or_else(|| Failure::not_found("Domain"))?;
        Ok(Answer::Json(domain_json(domain)))
    }

    /// `domain.delete`: answers the domain as it was.
    pub(super) fn domain_delete(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "domainId")?;
        let domain = self.domains.remove(&id);
        let domain = domain.ok_or_else(|| Failure::not_found("Domain"))?;
        Ok(Answer::Json(domain_json(&domain)))
    }
}

/// A domain as Dokploy shows it.
pub(super) fn domain_json(domain: &DomainRecord) -> Value {
    json!({
        "domainId": domain.id, "host": domain.host, "https": domain.https,
        "port": domain.port, "customEntrypoint": null, "path": domain.path,
        "serviceName": null, "domainType": "application", "uniqueConfigKey": 1,
        "createdAt": domain.created_at, "composeId": null, "customCertResolver": null,
        "applicationId": domain.application_id, "previewDeploymentId": null,
        "certificateType": domain.certificate_type, "internalPath": "/",
        "stripPath": false, "middlewares": [], "forwardAuthEnabled": false, "enabled": true,
    })
}

/// RFC 1123: dot-separated labels of letters, digits and `-`, not starting or ending with `-`.
fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
