//! `events/README.md` documents exactly the event kinds of `Event`, in encoded order.

use std::path::Path;

use stackledger::deployment::EventKind;

#[test]
fn catalogue_documents_every_event_kind_in_encoded_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/README.md");
    let text = std::fs::read_to_string(path).expect("events/README.md reads");
    let documented: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .map(|heading| heading.split_whitespace().nth(1).unwrap_or(heading))
        .collect();
    let kinds: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
    assert_eq!(
        documented, kinds,
        "catalogue headings are `### <index>. <Kind>`"
    );
}
