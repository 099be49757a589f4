//! Finding a project by name without downloading every project (issue 12, "Lookups that
//! scale").
//!
//! Dokploy v0.28.3 and later serve `project.search` (`routers/project.ts`): the projects of the
//! key's organization whose name contains the text (`ilike`, so case-insensitive, `%`/`_`
//! wildcards), newest first, `limit` 1-100 and `offset`, with the `total` that match; owners
//! and admins see every project, members only their `accessedProjects`, as with `project.all`.
//! Its items carry no environments, so the match's default environment is read with
//! `project.one`. The exact name is matched here and the oldest match wins, as before.
//!
//! A Dokploy without `project.search` answers a route 404; from then on the lookup lists
//! `project.all`, parsed as a stream on a blocking thread fed through a bounded channel and
//! keeping only the matching project, so memory is bounded by one project, never by the
//! answer, whose size has its own cap (`--dokploy-list-bytes-max`). It must never hold the
//! whole list in memory.

use std::fmt;
use std::io::Read;
use std::sync::atomic::Ordering;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

use crate::deployment::{ApiAnswer, Procedure, ProjectAnswer, ResourceId};
use crate::dokploy::client::DokployClient;
use crate::dokploy::error::DokployError;
use crate::dokploy::wire;

/// Projects per search page (Dokploy's most).
const SEARCH_PAGE: u64 = 100;

/// The most projects a name may be contained in before the lookup lists instead of paging
/// (100 pages): a short name in a large installation is cheaper to find in one listing.
const SEARCH_MATCHES_MAX: u64 = 10_000;

/// Chunks in flight between the download and the parser.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A project found by name: its id, and its default environment's when it has one.
type Found = Option<ProjectAnswer>;

impl DokployClient {
    /// `FindProject`: `project.search` when Dokploy has it, else a streamed `project.all`.
    pub(super) async fn find_project(&self, name: &str) -> Result<ApiAnswer, DokployError> {
        if !self.search_missing.load(Ordering::Relaxed) {
            match self.search_project(name).await {
                Ok(Some(found)) => return Ok(ApiAnswer::Project(found)),
                Ok(None) => {}
                Err(DokployError::NoRoute { .. }) => {
                    self.search_missing.store(true, Ordering::Relaxed);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(ApiAnswer::Project(self.list_project(name).await?))
    }

    /// The oldest project named exactly `name`, through `project.search` and `project.one`;
    /// `None` when too many names contain it to page through (the caller lists instead).
    async fn search_project(&self, name: &str) -> Result<Option<Found>, DokployError> {
        let mut oldest: Option<String> = None;
        let mut offset = 0;
        loop {
            let (limit, at) = (SEARCH_PAGE.to_string(), offset.to_string());
            let query = [("name", name), ("limit", limit.as_str()), ("offset", &at)];
            let page: wire::SearchPage = self.get(Procedure::ProjectSearch, &query).await?;
            if page.total > SEARCH_MATCHES_MAX {
                return Ok(None);
            }
            let seen = page.items.len() as u64;
            // Pages are newest first: the last exact match seen is the oldest.
            if let Some(last) = page.items.into_iter().rev().find(|p| p.name == name) {
                oldest = Some(last.project_id);
            }
            offset += seen;
            if seen == 0 || offset >= page.total {
                break;
            }
        }
        let Some(project_id) = oldest else {
            return Ok(Some(None));
        };
        let query = [("projectId", project_id.as_str())];
        let project: wire::ProjectEnvironments = match self.get(Procedure::ProjectOne, &query).await
        {
            Ok(project) => project,
            // Removed between the search and now: there is no such project any more.
            Err(error) if error.is_not_found() => return Ok(Some(None)),
            Err(error) => return Err(error),
        };
        let environment =
            wire::default_environment(&project.environments, |e| (e.name.as_str(), e.is_default));
        Ok(Some(Some(ProjectAnswer {
            project_id: ResourceId(project_id),
            environment_id: environment.map(|e| ResourceId(e.environment_id.clone())),
        })))
    }

    /// The oldest project named `name` in `project.all`, read as a stream.
    async fn list_project(&self, name: &str) -> Result<Found, DokployError> {
        let procedure = Procedure::ProjectAll;
        let request = self.get_request(procedure, &[])?;
        let mut response = self.answer(procedure, request).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let wanted = name.to_owned();
        let parser = tokio::task::spawn_blocking(move || {
            let mut reader = std::io::BufReader::new(ChunkReader::new(receiver));
            let found = oldest_named(&mut reader, &wanted);
            // Whatever follows the list is read too, so a cap or a transport error behind it
            // is noticed; and the sender never waits on a parser that has stopped.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            found
        });
        let mut bytes = 0;
        let pumped = loop {
            match response.chunk().await {
                Err(error) => break Err(self.transport(error)),
                Ok(None) => break Ok(()),
                Ok(Some(chunk)) => {
                    bytes += chunk.len();
                    if bytes > self.options.list_bytes_max {
                        break Err(DokployError::ResponseTooLarge {
                            operation: procedure,
                            limit: self.options.list_bytes_max,
                        });
                    }
                    if sender.send(chunk).await.is_err() {
                        break Ok(());
                    }
                }
            }
        };
        drop(sender);
        let parsed = parser
            .await
            .map_err(|error| self.unexpected(procedure, &format!("the parser stopped: {error}")))?;
        pumped?;
        parsed.map_err(|error| self.unexpected(procedure, &error.to_string()))
    }
}

/// The oldest project named `name` in a JSON array of projects read from `reader`, holding
/// one project at a time.
fn oldest_named(reader: &mut impl Read, name: &str) -> Result<Found, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let found = OldestNamed { name }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(found)
}

/// Reads an array of projects, keeping the last (in `project.all`'s newest-first order, the
/// oldest) one named `name`.
struct OldestNamed<'a> {
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for OldestNamed<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for OldestNamed<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of projects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let mut found = None;
        while let Some(project) = seq.next_element::<wire::Project>()? {
            if project.name == self.name {
                found = Some(project);
            }
        }
        Ok(found.map(|project| {
            let environment = wire::default_environment(&project.environments, |e| {
                (e.name.as_str(), e.is_default)
            });
            ProjectAnswer {
                environment_id: environment.map(|e| ResourceId(e.environment_id.clone())),
                project_id: ResourceId(project.project_id),
            }
        }))
    }
}

/// A blocking [`Read`] over the chunks the download sends through a bounded channel: it ends
/// when the sender is dropped.
struct ChunkReader<C> {
    receiver: tokio::sync::mpsc::Receiver<C>,
    chunk: Option<C>,
    at: usize,
}

impl<C: AsRef<[u8]>> ChunkReader<C> {
    fn new(receiver: tokio::sync::mpsc::Receiver<C>) -> Self {
        Self {
            receiver,
            chunk: None,
            at: 0,
        }
    }
}

impl<C: AsRef<[u8]>> Read for ChunkReader<C> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(chunk) = &self.chunk {
                let rest = &chunk.as_ref()[self.at..];
                if !rest.is_empty() {
                    let n = rest.len().min(buffer.len());
                    buffer[..n].copy_from_slice(&rest[..n]);
                    self.at += n;
                    return Ok(n);
                }
            }
            match self.receiver.blocking_recv() {
                Some(chunk) => {
                    self.chunk = Some(chunk);
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(json: &str, name: &str) -> Found {
        oldest_named(&mut json.as_bytes(), name).expect("valid JSON")
    }

    #[test]
    fn the_listing_keeps_the_oldest_exact_match_and_its_default_environment() {
        let json = r#"[
            {"projectId":"new","name":"shop","environments":[
                {"environmentId":"e1","name":"production","isDefault":true}]},
            {"projectId":"other","name":"shop2","environments":[]},
            {"projectId":"old","name":"shop","environments":[
                {"environmentId":"staging","name":"staging","isDefault":false},
                {"environmentId":"e2","name":"dev","isDefault":true}]}
        ]"#;
        let project = found(json, "shop").expect("found");
        assert_eq!(project.project_id, ResourceId("old".into()));
        assert_eq!(project.environment_id, Some(ResourceId("e2".into())));
        assert_eq!(found(json, "Shop"), None, "names are matched exactly");
    }

    #[test]
    fn without_is_default_the_production_environment_is_the_default() {
        // Dokploy v0.25.0-v0.26.0 has environments but no isDefault column.
        let json = r#"[{"projectId":"p","name":"shop","environments":[
            {"environmentId":"s","name":"staging"},{"environmentId":"e","name":"production"}]}]"#;
        let project = found(json, "shop").expect("found");
        assert_eq!(project.environment_id, Some(ResourceId("e".into())));
    }

    #[tokio::test]
    async fn the_chunk_reader_joins_chunks_split_anywhere() {
        let json = br#"[{"projectId":"p","name":"shop","environments":[]}]"#.to_vec();
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let parser = tokio::task::spawn_blocking(move || {
            oldest_named(&mut ChunkReader::new(receiver), "shop")
        });
        for piece in json.chunks(3) {
            sender.send(piece.to_vec()).await.expect("the parser reads");
        }
        drop(sender);
        let project = parser
            .await
            .expect("joins")
            .expect("parses")
            .expect("found");
        assert_eq!(project.project_id, ResourceId("p".into()));
    }
}
