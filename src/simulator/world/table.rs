//! One table of the simulated Dokploy's rows, indexed so that every lookup costs what its
//! answer costs: rows by id, children by parent (a project's environments, an environment's
//! applications, an application's domains and deployments) and rows by label (an
//! application's name, a route's first host label), each in insertion order, so that
//! "newest first" is a reverse walk and never a sort.
//!
//! A row's id, parent and label are read once, when it is pushed, and must never change while
//! it is in the table (Dokploy never changes them either); the indexes would lie otherwise.
//! It never scans rows that its caller did not ask for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a table needs to know of its rows.
pub(super) trait Row {
    /// The row's unique id.
    fn id(&self) -> &str;
    /// The id of the row it belongs to (empty: none).
    fn parent(&self) -> &str {
        ""
    }
    /// A name rows are also found by, if it has one (not unique).
    fn label(&self) -> Option<&str> {
        None
    }
}

/// Rows in insertion order, with their indexes.
#[derive(Debug)]
pub(super) struct Table<R> {
    next: u64,
    rows: BTreeMap<u64, R>,
    by_id: HashMap<String, u64>,
    by_parent: HashMap<String, BTreeSet<u64>>,
    by_label: HashMap<String, BTreeSet<u64>>,
}

impl<R> Default for Table<R> {
    fn default() -> Self {
        Self {
            next: 0,
            rows: BTreeMap::new(),
            by_id: HashMap::new(),
            by_parent: HashMap::new(),
            by_label: HashMap::new(),
        }
    }
}

impl<R: Row> Table<R> {
    /// Adds a row after every other one. A row with an id already present replaces it.
    pub(super) fn push(&mut self, row: R) {
        self.remove(row.id());
        let position = self.next;
        self.next += 1;
        self.by_id.insert(row.id().to_owned(), position);
        let parent = self.by_parent.entry(row.parent().to_owned()).or_default();
        parent.insert(position);
        if let Some(label) = row.label() {
            let labelled = self.by_label.entry(label.to_owned()).or_default();
            labelled.insert(position);
        }
        self.rows.insert(position, row);
    }

    /// The row with this id.
    pub(super) fn get(&self, id: &str) -> Option<&R> {
        self.by_id
            .get(id)
            .and_then(|position| self.rows.get(position))
    }

    /// The row with this id, to change anything but its id, parent and label.
    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut R> {
        let position = self.by_id.get(id)?;
        self.rows.get_mut(position)
    }

    /// Whether a row has this id.
    pub(super) fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Takes the row with this id out.
    pub(super) fn remove(&mut self, id: &str) -> Option<R> {
        let position = self.by_id.remove(id)?;
        let row = self.rows.remove(&position)?;
        unindex(&mut self.by_parent, row.parent(), position);
        if let Some(label) = row.label() {
            unindex(&mut self.by_label, label, position);
        }
        Some(row)
    }

    /// Every row, oldest first (`.rev()` for newest first).
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &R> {
        self.rows.values()
    }

    /// The newest row.
    pub(super) fn last(&self) -> Option<&R> {
        self.rows.values().next_back()
    }

    /// The rows whose parent is `parent`, oldest first.
    pub(super) fn children<'a>(
        &'a self,
        parent: &str,
    ) -> impl DoubleEndedIterator<Item = &'a R> + 'a {
        self.indexed(self.by_parent.get(parent))
    }

    /// How many rows have `parent` as their parent.
    pub(super) fn children_count(&self, parent: &str) -> usize {
        self.by_parent.get(parent).map_or(0, BTreeSet::len)
    }

    /// The ids of the rows whose parent is `parent`, oldest first.
    pub(super) fn child_ids(&self, parent: &str) -> Vec<String> {
        self.children(parent)
            .map(|row| row.id().to_owned())
            .collect()
    }

    /// The rows labelled `label`, oldest first.
    pub(super) fn labelled<'a>(
        &'a self,
        label: &str,
    ) -> impl DoubleEndedIterator<Item = &'a R> + 'a {
        self.indexed(self.by_label.get(label))
    }

    fn indexed<'a>(
        &'a self,
        positions: Option<&'a BTreeSet<u64>>,
    ) -> impl DoubleEndedIterator<Item = &'a R> + 'a {
        positions
            .into_iter()
            .flatten()
            .filter_map(|position| self.rows.get(position))
    }
}

/// Drops `position` from the index entry `key`, and the entry once it is empty.
fn unindex(index: &mut HashMap<String, BTreeSet<u64>>, key: &str, position: u64) {
    if let Some(positions) = index.get_mut(key) {
        positions.remove(&position);
        if positions.is_empty() {
            index.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Item(&'static str, &'static str, Option<&'static str>);

    impl Row for Item {
        fn id(&self) -> &str {
            self.0
        }
        fn parent(&self) -> &str {
            self.1
        }
        fn label(&self) -> Option<&str> {
            self.2
        }
    }

    fn ids<'a>(rows: impl Iterator<Item = &'a Item>) -> Vec<&'static str> {
        rows.map(|row| row.0).collect()
    }

    #[test]
    fn rows_are_found_by_id_parent_and_label_in_insertion_order() {
        let mut table = Table::default();
        table.push(Item("a", "p", Some("shop")));
        table.push(Item("b", "q", None));
        table.push(Item("c", "p", Some("shop")));
        assert_eq!(table.get("b"), Some(&Item("b", "q", None)));
        assert_eq!(ids(table.children("p")), vec!["a", "c"]);
        assert_eq!(ids(table.children("p").rev()), vec!["c", "a"]);
        assert_eq!(ids(table.labelled("shop")), vec!["a", "c"]);
        assert_eq!(table.children_count("q"), 1);
        assert_eq!(ids(table.children("nobody")), Vec::<&str>::new());
        assert_eq!(table.last().map(|row| row.0), Some("c"));
    }

    #[test]
    fn a_removed_row_leaves_every_index() {
        let mut table = Table::default();
        table.push(Item("a", "p", Some("shop")));
        table.push(Item("b", "p", Some("shop")));
        assert_eq!(table.remove("a"), Some(Item("a", "p", Some("shop"))));
        assert_eq!(table.remove("a"), None);
        assert!(!table.contains("a"));
        assert_eq!(ids(table.children("p")), vec!["b"]);
        assert_eq!(ids(table.labelled("shop")), vec!["b"]);
        table.remove("b");
        assert_eq!(table.children_count("p"), 0);
        assert!(table.by_parent.is_empty() && table.by_label.is_empty());
        assert_eq!(table.iter().count(), 0);
    }

    #[test]
    fn pushing_an_id_again_replaces_the_row_and_moves_it_last() {
        let mut table = Table::default();
        table.push(Item("a", "p", None));
        table.push(Item("b", "p", None));
        table.push(Item("a", "q", None));
        assert_eq!(ids(table.iter()), vec!["b", "a"]);
        assert_eq!(ids(table.children("p")), vec!["b"]);
        assert_eq!(ids(table.children("q")), vec!["a"]);
    }
}
