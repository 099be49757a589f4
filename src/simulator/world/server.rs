//! The remote servers the simulated Dokploy knows and its "remote servers only" setting, and
//! the rule `application.create` applies with them (`routers/application.ts:91-110`): with
//! remote servers only (or on Cloud) a create without a `serverId` is 401 `You need to use a
//! server to create an application`; a `serverId` the organization has no server of is 401
//! `You are not authorized to access this server` (`getAccessibleServerIds`).
//!
//! It never creates or removes a server: the set is fixed when the simulator starts.

use crate::simulator::answer::Failure;

/// The servers and the setting.
#[derive(Debug, Clone, Default)]
pub(super) struct Servers {
    remote_only: bool,
    known: Option<String>,
}

impl Servers {
    /// "Remote servers only" on or off, knowing one remote server or none.
    pub(super) fn new(remote_only: bool, known: Option<String>) -> Self {
        Self { remote_only, known }
    }

    /// Whether an application may be created with this `serverId` (`None`, or empty, is none:
    /// Dokploy tests it for truthiness).
    pub(super) fn admit(&self, server_id: Option<&str>) -> Result<(), Failure> {
        let server_id = server_id.filter(|id| !id.is_empty());
        match server_id {
            None if self.remote_only => Err(Failure::new(
                401,
                "UNAUTHORIZED",
                "You need to use a server to create an application",
            )),
            None => Ok(()),
            Some(id) if self.known.as_deref() == Some(id) => Ok(()),
            Some(_) => Err(Failure::new(
                401,
                "UNAUTHORIZED",
                "You are not authorized to access this server",
            )),
        }
    }
}
