//! The daemon's event bus: every event of every pact, numbered `<boot>-<n>`, kept in a bounded
//! ring for resumption (spec/rest-api.md, Decision 12) and broadcast to live subscribers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openpact_proto::v1;
use tokio::sync::broadcast;

/// Events kept for resumption.
pub const RING_CAPACITY: usize = 10_000;
/// Live events a subscriber may fall behind by before it is told to resync.
const CHANNEL_CAPACITY: usize = 16_384;

struct Ring {
    next: u64,
    events: VecDeque<Arc<v1::Event>>,
}

/// Numbers, keeps and broadcasts events.
pub struct EventBus {
    boot: String,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<v1::Event>>,
    generation: AtomicU64,
}

/// Bumps the bus's generation when dropped: held across a change of the registry, so the bump
/// lands after the change, on every way out, before the caller hears back.
pub struct Changing<'a>(&'a EventBus);

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.bump_generation();
    }
}

/// Where a resuming subscriber starts.
pub enum Resume {
    /// The buffered events after the given id, then live ones.
    Replay(Vec<Arc<v1::Event>>),
    /// The id is no longer buffered, or from another daemon run: resync.
    Reset,
}

impl EventBus {
    /// A bus under a fresh random boot id.
    pub fn new() -> Self {
        let mut b = [0u8; 4];
        // A failing OS RNG leaves a zero boot id: resumption across runs then resets less
        // reliably, which is harmless.
        let _ = getrandom::fill(&mut b);
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        EventBus {
            boot: hex::encode(b),
            ring: Mutex::new(Ring {
                next: 1,
                events: VecDeque::with_capacity(1024),
            }),
            tx,
            generation: AtomicU64::new(0),
        }
    }

    /// The daemon's generation: it grows after every ledger commit of any pact and every
    /// registry change, before anyone is told of them. Answers computed after reading
    /// generation `g` are at least as new as everything acknowledged before `g`, so a cache may
    /// serve them for as long as the generation stays `g`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks a change (a commit, a registry update) as done.
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A guard that bumps the generation when the change it spans ends.
    pub fn changing(&self) -> Changing<'_> {
        Changing(self)
    }

    /// This run's boot id.
    pub fn boot(&self) -> &str {
        &self.boot
    }

    /// Numbers `ev`, keeps it, and sends it to subscribers.
    pub fn publish(&self, mut ev: v1::Event) {
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        ev.id = format!("{}-{}", self.boot, ring.next);
        ring.next += 1;
        let ev = Arc::new(ev);
        if ring.events.len() == RING_CAPACITY {
            ring.events.pop_front();
        }
        ring.events.push_back(ev.clone());
        // Sent under the lock, so every receiver sees ids in order.
        let _ = self.tx.send(ev);
    }

    /// A live subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<v1::Event>> {
        self.tx.subscribe()
    }

    /// A live subscription, with the buffered events after `last_id` taken atomically with it.
    pub fn resume(&self, last_id: &str) -> (Resume, broadcast::Receiver<Arc<v1::Event>>) {
        let Ok(ring) = self.ring.lock() else {
            return (Resume::Reset, self.tx.subscribe());
        };
        let rx = self.tx.subscribe();
        let n = last_id
            .strip_prefix(self.boot.as_str())
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|n| n.parse::<u64>().ok());
        let Some(n) = n else {
            return (Resume::Reset, rx);
        };
        let first = ring.next - ring.events.len() as u64;
        // `n` itself must still be buffered (or be the last one sent) for nothing to be missed.
        if n + 1 < first || n >= ring.next {
            return (Resume::Reset, rx);
        }
        let skip = (n + 1 - first) as usize;
        (
            Resume::Replay(ring.events.iter().skip(skip).cloned().collect()),
            rx,
        )
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: v1::EventKind) -> v1::Event {
        v1::Event {
            kind: kind as i32,
            ..Default::default()
        }
    }

    #[test]
    fn resume_replays_exactly_the_events_after_the_id() {
        let bus = EventBus::new();
        for _ in 0..5 {
            bus.publish(ev(v1::EventKind::PactUpdated));
        }
        let id = format!("{}-2", bus.boot());
        let (Resume::Replay(events), _) = bus.resume(&id) else {
            panic!("expected a replay");
        };
        let ids: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(
            ids,
            (3..=5)
                .map(|n| format!("{}-{n}", bus.boot()))
                .collect::<Vec<_>>()
        );
        let (Resume::Replay(none), _) = bus.resume(&format!("{}-5", bus.boot())) else {
            panic!("the newest id resumes with nothing to replay");
        };
        assert!(none.is_empty());
    }

    #[test]
    fn resume_from_another_run_or_an_evicted_id_resets() {
        let bus = EventBus::new();
        for _ in 0..(RING_CAPACITY + 10) {
            bus.publish(ev(v1::EventKind::PactUpdated));
        }
        assert!(matches!(bus.resume("ffffffff-3").0, Resume::Reset));
        assert!(matches!(
            bus.resume(&format!("{}-3", bus.boot())).0,
            Resume::Reset
        ));
        assert!(matches!(
            bus.resume(&format!("{}-999999", bus.boot())).0,
            Resume::Reset
        ));
        assert!(matches!(
            bus.resume(&format!("{}-{}", bus.boot(), RING_CAPACITY + 5))
                .0,
            Resume::Replay(_)
        ));
    }
}
