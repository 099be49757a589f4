//! The `name=` filter over the on-disk part: the stored deployments whose names contain a text,
//! newest first, in time independent of how many names are stored.
//!
//! The suffix registry ([`stored::suffix_keys`]) finds the names containing the text with one
//! prefix scan on `x ‖ text`. A plan is chosen per query: a rare text (at most
//! [`RARE_NAMES_MAX`] names contain it) is answered from those names' postings, merged newest
//! first; a common one by walking the request-order postings (or the status's) newest first,
//! keeping those whose name (carried by the posting) contains the text. A page thus reads at
//! most about `RARE_NAMES_MAX` registry keys and the matches' postings, or about
//! `limit · stored deployments / RARE_NAMES_MAX` postings. It never opens a record, never scans
//! every stored name, and never writes.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use crate::deployment::DeploymentStatus;
use crate::ids::DeploymentId;
use crate::ledger::ScanOrder;
use crate::projection::disk::{Disk, corrupt, unavailable};
use crate::projection::read_model::ReadError;
use crate::projection::stored::{self, Posting};

/// Names at most that a text may be contained in to be answered from their own postings; above
/// it the request-order postings are walked instead.
pub(crate) const RARE_NAMES_MAX: usize = 4096;

/// Which stored names contain a text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Contained {
    /// These, at most the disk's `rare_names_max`.
    Rare(BTreeSet<String>),
    /// More than the disk's `rare_names_max`.
    Common,
}

impl Disk {
    /// Up to `limit` stored postings below `bound`, newest first, whose name contains `text`
    /// (not empty), of `status` if given, that `skip` does not claim.
    pub(crate) fn postings_named(
        &self,
        text: &str,
        status: Option<DeploymentStatus>,
        bound: u64,
        limit: usize,
        skip: &dyn Fn(DeploymentId) -> bool,
    ) -> Result<Vec<Posting>, ReadError> {
        let names = match self.names_containing(text)? {
            Contained::Common => {
                let prefix = match status {
                    Some(status) => stored::status_prefix(status),
                    None => stored::order_prefix(),
                };
                let keep = |posting: &Posting| !skip(posting.id) && posting.name.contains(text);
                return self.walk(&prefix, bound, limit, &keep);
            }
            Contained::Rare(names) => names,
        };
        let keep = |posting: &Posting| {
            !skip(posting.id) && status.is_none_or(|status| posting.status == status)
        };
        let mut found = Vec::new();
        for name in &names {
            found.extend(self.walk(&stored::name_prefix(name), bound, limit, &keep)?);
        }
        found.sort_by_key(|posting| std::cmp::Reverse(posting.ordinal));
        found.truncate(limit);
        Ok(found)
    }

    /// Whether `name`'s suffixes are in the registry (a read that fails says no: writing them
    /// again is harmless).
    pub(crate) fn names(&self, name: &str) -> bool {
        match stored::suffix_keys(name).first() {
            Some(whole) => matches!(self.reader.get(whole), Ok(Some(_))),
            None => false,
        }
    }

    /// The stored names containing `text`, or [`Contained::Common`] once more than
    /// `rare_names_max` do.
    fn names_containing(&self, text: &str) -> Result<Contained, ReadError> {
        let registry = stored::suffix_prefix("").len();
        let from = stored::suffix_prefix(text);
        let to = stored::prefix_end(&from).ok_or_else(|| corrupt("suffix range", "unbounded"))?;
        let mut names = BTreeSet::new();
        let (mut damaged, mut common) = (None, false);
        let mut visit = |key: &[u8], _: &[u8]| {
            let Some(name) = stored::decode_suffix_key(registry, key) else {
                damaged = Some(key.to_vec());
                return ControlFlow::Break(());
            };
            // A text holding a 0 byte may reach into a key's head: the check keeps it exact.
            if name.contains(text) {
                names.insert(name);
            }
            if names.len() > self.rare_names_max {
                common = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        self.reader
            .scan(&from, &to, ScanOrder::Forward, &mut visit)
            .map_err(unavailable)?;
        if let Some(key) = damaged {
            return Err(corrupt(
                format!("suffix key {key:02x?}"),
                "not a name's suffix",
            ));
        }
        Ok(match common {
            true => Contained::Common,
            false => Contained::Rare(names),
        })
    }
}
