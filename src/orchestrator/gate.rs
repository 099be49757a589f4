//! [`Gate`]: a line for a limited number of slots, first come first served. The portal keeps
//! two: the admission queue for the `--running-max` running slots, whose line is ordered by
//! each deployment's request seq (so that a restart keeps the order), and the line for
//! Dokploy's build slots (`--dokploy-builds`): Dokploy runs one build at a time per server by
//! default (`buildsConcurrency` 1, its queue kept in memory with no row until a build starts),
//! so the portal hands it no more builds at once than it runs, and the deployments past that
//! wait here, visibly.
//!
//! A deployment joins the line with a [`Ticket`]; the gate gives free slots to the front of the
//! line itself, so a slot is never taken out of turn. A granted slot is a [`Slot`] that
//! gives itself back when dropped (the deploy is final, the deployment failed, or its run ended
//! or was aborted), and a ticket dropped while in line leaves it. The gate must never block a
//! thread, read a clock or record anything: the run measures the wait and records the events.

use std::collections::{BTreeSet, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// The line and the slots in use.
#[derive(Debug)]
struct Line {
    /// Slots at most in use at once.
    slots: usize,
    /// Slots granted (claimed or not yet claimed by their ticket).
    building: usize,
    /// Tickets waiting, front first.
    waiting: VecDeque<u64>,
    /// Tickets granted a slot they have not claimed yet.
    granted: BTreeSet<u64>,
    /// The next ticket's number.
    next: u64,
}

impl Line {
    /// Gives free slots to the front of the line.
    fn admit(&mut self) {
        while self.building < self.slots {
            let Some(ticket) = self.waiting.pop_front() else {
                return;
            };
            self.building += 1;
            self.granted.insert(ticket);
        }
    }
}

/// Dokploy's build slots, and the line of deployments waiting for one. Shared by every run.
#[derive(Debug)]
pub struct Gate {
    line: Mutex<Line>,
    /// Bumped whenever the line moves, so that waiting tickets look at their place again.
    moved: watch::Sender<u64>,
}

/// How many wait for a build slot and how many hold one (for `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// Deployments waiting in line.
    pub waiting: usize,
    /// Slots in use: deployments whose build Dokploy has or may start.
    pub building: usize,
}

impl Gate {
    /// A gate of `slots` build slots, none in use.
    pub fn new(slots: NonZeroUsize) -> Arc<Self> {
        Arc::new(Self {
            line: Mutex::new(Line {
                slots: slots.get(),
                building: 0,
                waiting: VecDeque::new(),
                granted: BTreeSet::new(),
                next: 0,
            }),
            moved: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The line moved: waiting tickets look at their place again.
    fn moved(&self) {
        self.moved
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Joins the back of the line.
    pub fn join(self: &Arc<Self>) -> Ticket {
        let number = {
            let mut line = self.lock();
            let number = line.next;
            line.next += 1;
            line.waiting.push_back(number);
            line.admit();
            number
        };
        self.ticket(number)
    }

    /// Joins the line at the place of `key` among the waiting ones (a smaller key is ahead):
    /// the admission queue orders by request seq, so that a deployment recovered after a
    /// restart is ahead of every one requested after it. Keys must be unique and never mixed
    /// with [`Gate::join`] on one gate.
    pub fn join_at(self: &Arc<Self>, key: u64) -> Ticket {
        let behind = {
            let mut line = self.lock();
            let place = line.waiting.partition_point(|n| *n < key);
            assert!(
                line.waiting.get(place) != Some(&key) && !line.granted.contains(&key),
                "a key joins a line once"
            );
            line.waiting.insert(place, key);
            line.admit();
            line.waiting.len().saturating_sub(place + 1)
        };
        if behind > 0 {
            // Those behind the new place moved back: they look at their place again.
            self.moved();
        }
        self.ticket(key)
    }

    fn ticket(self: &Arc<Self>, number: u64) -> Ticket {
        Ticket {
            gate: Arc::clone(self),
            number,
            moved: self.moved.subscribe(),
            reported: None,
            claimed: false,
        }
    }

    /// How many wait and how many build, now.
    pub fn slots(&self) -> Slots {
        let line = self.lock();
        Slots {
            waiting: line.waiting.len(),
            building: line.building,
        }
    }

    /// Gives one slot back and hands it to the next in line.
    fn release(&self) {
        {
            let mut line = self.lock();
            line.building = line.building.saturating_sub(1);
            line.admit();
        }
        self.moved();
    }
}

/// Where a ticket stands after [`Ticket::turn`].
#[derive(Debug)]
pub enum Turn {
    /// Still in line, at a place not reported before: this many are ahead.
    Waiting {
        /// Deployments ahead of it in line.
        ahead: u32,
    },
    /// The slot is this ticket's.
    Granted(Slot),
}

/// A place in the line. Dropped while waiting, it leaves the line.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
    number: u64,
    moved: watch::Receiver<u64>,
    /// The place last reported by [`Ticket::turn`], as [`shown`] rounds it.
    reported: Option<u32>,
    /// Whether the granted slot became a [`Slot`].
    claimed: bool,
}

impl Ticket {
    /// Waits until the slot is this ticket's, or its place in line differs from the one last
    /// reported (the first call reports the place at once). Cancel-safe.
    pub async fn turn(&mut self) -> Turn {
        loop {
            self.moved.mark_unchanged();
            let ahead = {
                let mut line = self.gate.lock();
                if line.granted.remove(&self.number) {
                    None
                } else {
                    // The line holds ticket numbers in the order they joined: a binary search.
                    let place = line.waiting.partition_point(|n| *n < self.number);
                    assert!(
                        line.waiting.get(place) == Some(&self.number),
                        "a ticket not granted is in line"
                    );
                    Some(u32::try_from(place).unwrap_or(u32::MAX))
                }
            };
            let Some(ahead) = ahead else {
                self.claimed = true;
                // The line moved up: the others look at their place again.
                self.gate.moved();
                return Turn::Granted(Slot {
                    gate: Arc::clone(&self.gate),
                });
            };
            if self.reported != Some(shown(ahead)) {
                self.reported = Some(shown(ahead));
                return Turn::Waiting { ahead };
            }
            // The sender lives in the gate, which this ticket holds: `changed` cannot fail.
            let _ = self.moved.changed().await;
        }
    }
}

/// The place in line as it is reported: exact below 10, else rounded down to its leading digit
/// (2,345 ahead → 2,000), so that a deployment behind a long line records a few places per
/// order of magnitude, never one per deployment ahead of it.
fn shown(ahead: u32) -> u32 {
    let mut unit = 1;
    while ahead / unit >= 10 {
        unit *= 10;
    }
    ahead / unit * unit
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.claimed {
            return;
        }
        let granted = {
            let mut line = self.gate.lock();
            line.waiting.retain(|n| *n != self.number);
            line.granted.remove(&self.number)
        };
        if granted {
            // Granted but never claimed: the slot goes to the next in line.
            self.gate.release();
        } else {
            self.gate.moved();
        }
    }
}

/// One of Dokploy's build slots, held; dropping it gives it to the next in line.
#[derive(Debug)]
pub struct Slot {
    gate: Arc<Gate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(slots: usize) -> Arc<Gate> {
        Gate::new(NonZeroUsize::new(slots).expect("slots"))
    }

    /// The turn a ticket has now, if it does not have to wait for the line to move.
    fn now(ticket: &mut Ticket) -> Option<Turn> {
        futures_util::FutureExt::now_or_never(ticket.turn())
    }

    fn ahead(turn: Option<Turn>) -> Option<u32> {
        match turn {
            Some(Turn::Waiting { ahead }) => Some(ahead),
            _ => None,
        }
    }

    fn granted(turn: Option<Turn>) -> Slot {
        match turn {
            Some(Turn::Granted(slot)) => slot,
            other => panic!("expected the slot, got {other:?}"),
        }
    }

    #[test]
    fn slots_go_first_come_first_served_and_a_released_slot_to_the_next_in_line() {
        let gate = gate(1);
        let mut first = gate.join();
        let mut second = gate.join();
        let mut third = gate.join();
        assert_eq!(
            ahead(now(&mut third)),
            Some(1),
            "one waits ahead of the third"
        );
        assert_eq!(ahead(now(&mut second)), Some(0), "the second is next");
        let held = granted(now(&mut first));
        assert_eq!(
            gate.slots(),
            Slots {
                waiting: 2,
                building: 1
            }
        );
        assert!(
            now(&mut second).is_none(),
            "no slot is free, the place is the same"
        );
        drop(held);
        let _held = granted(now(&mut second));
        assert_eq!(ahead(now(&mut third)), Some(0), "its place changed once");
        assert!(
            now(&mut third).is_none(),
            "the same place is not reported twice"
        );
    }

    #[test]
    fn a_ticket_that_leaves_the_line_moves_the_ones_behind_it_up() {
        let gate = gate(1);
        let _held = granted(now(&mut gate.join()));
        let mut second = gate.join();
        let mut third = gate.join();
        assert_eq!(ahead(now(&mut second)), Some(0));
        assert_eq!(ahead(now(&mut third)), Some(1));
        drop(second);
        assert_eq!(ahead(now(&mut third)), Some(0));
        assert_eq!(gate.slots().waiting, 1);
    }

    #[test]
    fn a_slot_granted_but_never_claimed_or_dropped_goes_back_to_the_line() {
        let gate = gate(1);
        let first = gate.join();
        let mut second = gate.join();
        assert_eq!(ahead(now(&mut second)), Some(0));
        drop(first); // granted on joining, dropped before its run claimed it
        let slot = granted(now(&mut second));
        assert_eq!(gate.slots().building, 1);
        drop(slot);
        assert_eq!(
            gate.slots(),
            Slots {
                waiting: 0,
                building: 0
            }
        );
    }

    #[test]
    fn two_slots_let_two_build_and_the_third_wait() {
        let gate = gate(2);
        let _a = granted(now(&mut gate.join()));
        let _b = granted(now(&mut gate.join()));
        let mut c = gate.join();
        assert_eq!(ahead(now(&mut c)), Some(0));
        assert_eq!(gate.slots().building, 2);
    }

    #[tokio::test]
    async fn a_waiting_ticket_wakes_when_the_slot_is_released() {
        let gate = gate(1);
        let held = granted(now(&mut gate.join()));
        let mut second = gate.join();
        assert_eq!(ahead(now(&mut second)), Some(0));
        let waiter = tokio::spawn(async move { matches!(second.turn().await, Turn::Granted(_)) });
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiter.await.expect("the waiter ends"), "it got the slot");
    }

    #[test]
    fn a_key_joins_at_its_place_so_an_earlier_request_goes_first() {
        let gate = gate(1);
        let _held = granted(now(&mut gate.join_at(5)));
        let mut late = gate.join_at(9);
        assert_eq!(ahead(now(&mut late)), Some(0));
        let mut early = gate.join_at(7);
        assert_eq!(ahead(now(&mut early)), Some(0), "7 goes before 9");
        assert_eq!(ahead(now(&mut late)), Some(1), "9 moved back one place");
    }

    #[test]
    fn a_place_far_back_is_reported_by_its_leading_digit_and_near_the_front_exactly() {
        let cases = [
            (0, 0),
            (9, 9),
            (10, 10),
            (19, 10),
            (99, 90),
            (100, 100),
            (2_345, 2_000),
        ];
        for (ahead, expected) in cases {
            assert_eq!(super::shown(ahead), expected, "{ahead} ahead");
        }
        // Walking from 999 ahead to the front reports 9 places per order of magnitude.
        let mut places: Vec<u32> = (0..1_000).rev().map(super::shown).collect();
        places.dedup();
        assert_eq!(places.len(), 28, "{places:?}");
    }
}
