//! Refused authentication, counted so that a flood cannot fill the log (issue 13): which
//! `AuthenticationRefused` events a refusal makes due.
//!
//! Refusals are counted per client per minute window (windows start on whole minutes of the
//! clock). The first refusal of a client in a window is due at once, with `refused: 1`; later
//! ones in that window are only counted, and their count is due once the window is over (at
//! the next refusal or authentication, or the periodic flush). Only [`CLIENTS_MAX`] clients
//! per window are counted under their own hash; refusals of any further client are counted
//! together under [`OTHERS`]. So one window adds at most [`EVENTS_PER_WINDOW_MAX`] events,
//! however many requests are refused, and the events of one client and window add up to its
//! refusals. Pure: time comes in as an argument; it never appends and never reads a clock.

use std::collections::BTreeMap;

use crate::deployment::Event;

/// The length of a counting window.
pub const WINDOW_MS: i64 = 60_000;

/// The clients per window counted under their own hash.
pub const CLIENTS_MAX: usize = 16;

/// The client named in the events of the clients past [`CLIENTS_MAX`].
pub const OTHERS: &str = "*";

/// The most `AuthenticationRefused` events one window adds: two (the first refusal, then the
/// count of the rest) for each of [`CLIENTS_MAX`] clients and for [`OTHERS`].
pub const EVENTS_PER_WINDOW_MAX: usize = 2 * (CLIENTS_MAX + 1);

/// The refusals of the current window not yet recorded.
#[derive(Debug, Default)]
pub(crate) struct RefusalCounter {
    /// The start of the window being counted (None before the first refusal).
    window_start_ms: Option<i64>,
    /// Each counted client's refusals after its first (which was recorded at once).
    pending: BTreeMap<String, u32>,
}

impl RefusalCounter {
    /// Counts one refusal of `client` at `now_ms` and returns the events due now: the counts
    /// of a window that is over, then this refusal's own event if it is the client's first in
    /// its window.
    pub(crate) fn refuse(&mut self, client: &str, now_ms: i64) -> Vec<Event> {
        let mut due = self.close_if_over(now_ms);
        let window_start_ms = *self.window_start_ms.get_or_insert(window_of(now_ms));
        let counted_apart = self.pending.contains_key(client)
            || self.pending.keys().filter(|key| *key != OTHERS).count() < CLIENTS_MAX;
        let key = if counted_apart { client } else { OTHERS };
        match self.pending.get_mut(key) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                self.pending.insert(key.to_owned(), 0);
                due.push(refused(key, 1, window_start_ms));
            }
        }
        due
    }

    /// The counts not yet recorded of the window being counted, if it is over at `now_ms`
    /// (nothing otherwise); the counter then starts afresh.
    pub(crate) fn close_if_over(&mut self, now_ms: i64) -> Vec<Event> {
        let Some(start) = self.window_start_ms else {
            return Vec::new();
        };
        // A clock that stepped back stays in the window it was in.
        if window_of(now_ms) <= start {
            return Vec::new();
        }
        self.window_start_ms = None;
        std::mem::take(&mut self.pending)
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(client, count)| refused(&client, count, start))
            .collect()
    }
}

/// The start of the window `now_ms` falls in.
fn window_of(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(WINDOW_MS)
}

fn refused(client: &str, refused: u32, window_start_ms: i64) -> Event {
    Event::AuthenticationRefused {
        client: client.to_owned(),
        refused,
        window_start_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (client, refused, window) of each event.
    fn described(events: &[Event]) -> Vec<(String, u32, i64)> {
        events
            .iter()
            .map(|event| match event {
                Event::AuthenticationRefused {
                    client,
                    refused,
                    window_start_ms,
                } => (client.clone(), *refused, *window_start_ms),
                other => panic!("only refusals are due, not {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_first_refusal_is_due_at_once_and_the_rest_when_the_window_is_over() {
        let mut counter = RefusalCounter::default();
        let base = 10 * WINDOW_MS;
        assert_eq!(
            described(&counter.refuse("c1", base + 5)),
            [("c1".into(), 1, base)]
        );
        let mut later = Vec::new();
        for offset in 0..9_999 {
            later.extend(counter.refuse("c1", base + 10 + offset % 50_000));
        }
        assert!(
            later.is_empty(),
            "later refusals in the window are only counted"
        );
        assert!(counter.close_if_over(base + WINDOW_MS - 1).is_empty());
        assert_eq!(
            described(&counter.close_if_over(base + WINDOW_MS)),
            [("c1".into(), 9_999, base)],
            "the window's events add up to its 10,000 refusals"
        );
        assert!(
            counter.close_if_over(base + 5 * WINDOW_MS).is_empty(),
            "said once"
        );
    }

    #[test]
    fn a_refusal_in_a_new_window_closes_the_old_one_first() {
        let mut counter = RefusalCounter::default();
        counter.refuse("c1", 0);
        counter.refuse("c1", 1);
        let due = described(&counter.refuse("c2", WINDOW_MS + 3));
        assert_eq!(
            due,
            [("c1".into(), 1, 0), ("c2".into(), 1, WINDOW_MS)],
            "the old window's count, then the new window's first"
        );
    }

    #[test]
    fn a_flood_from_many_clients_adds_a_bounded_number_of_events_per_window() {
        let mut counter = RefusalCounter::default();
        let mut events = Vec::new();
        for request in 0..10_000u32 {
            let client = format!("client-{}", request % 500);
            events.extend(counter.refuse(&client, i64::from(request)));
        }
        events.extend(counter.close_if_over(WINDOW_MS));
        assert!(
            events.len() <= EVENTS_PER_WINDOW_MAX,
            "{} events",
            events.len()
        );
        let described = described(&events);
        let total: u32 = described.iter().map(|(_, refused, _)| refused).sum();
        assert_eq!(total, 10_000, "every refusal is counted");
        let others: u32 = described
            .iter()
            .filter(|(client, ..)| client == OTHERS)
            .map(|(_, refused, _)| refused)
            .sum();
        assert_eq!(
            others,
            10_000 - 16 * 20,
            "past 16 clients, all are counted as *"
        );
    }

    #[test]
    fn a_clock_that_steps_back_stays_in_its_window() {
        let mut counter = RefusalCounter::default();
        counter.refuse("c1", 5 * WINDOW_MS);
        assert!(counter.refuse("c1", 4 * WINDOW_MS).is_empty());
        let due = described(&counter.close_if_over(6 * WINDOW_MS));
        assert_eq!(due, [("c1".into(), 1, 5 * WINDOW_MS)]);
    }
}
