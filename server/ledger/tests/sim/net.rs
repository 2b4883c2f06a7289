//! The network: entries addressed to peers, delivered late, out of order, twice or never.

use std::rc::Rc;

use openpact_ledger::EntryHash;
use rand::RngExt as _;
use rand::seq::{IndexedRandom as _, SliceRandom as _};

use super::{Msg, Sim, inspect};

impl Sim {
    /// Sends a known entry to a peer, ready now.
    pub fn send_now(&mut self, to: usize, hash: EntryHash) {
        self.net.push(Msg {
            to,
            hash,
            ready_at: self.tick,
        });
    }

    /// Sends an entry to a peer through the lossy, delaying network.
    pub fn send(&mut self, to: usize, hash: EntryHash) {
        if self.params.mix.lose_messages && self.rng.random_ratio(1, 25) {
            return;
        }
        let delay = if self.rng.random_ratio(3, 10) {
            self.rng.random_range(1..25)
        } else {
            0
        };
        self.net.push(Msg {
            to,
            hash,
            ready_at: self.tick + delay,
        });
    }

    /// Sends an entry to every peer but `from`.
    pub fn broadcast(&mut self, from: usize, hash: EntryHash) {
        for to in 0..self.peers.len() {
            if to != from {
                self.send(to, hash);
            }
        }
    }

    /// Takes up to `k` random ready messages addressed to `p` off the network.
    pub fn take_msgs(&mut self, p: usize, k: usize) -> Vec<EntryHash> {
        let mut out = Vec::new();
        for _ in 0..k {
            let ready: Vec<usize> = (0..self.net.len())
                .filter(|&i| self.net[i].to == p && self.net[i].ready_at <= self.tick)
                .collect();
            let Some(&i) = ready.choose(&mut self.rng) else {
                break;
            };
            out.push(self.net.swap_remove(i).hash);
        }
        out
    }

    /// Messages still in flight.
    pub fn in_flight(&self) -> usize {
        self.net.len()
    }

    /// Peers that have messages in flight, ready or not.
    pub fn pending_peers(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.net.iter().map(|m| m.to).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Delivers up to `k` of the messages in flight to `p` (ready or not), in random order.
    pub fn deliver_some(&mut self, p: usize, k: usize) -> Result<(), String> {
        let mut mine: Vec<usize> = (0..self.net.len())
            .filter(|&i| self.net[i].to == p)
            .collect();
        mine.shuffle(&mut self.rng);
        mine.truncate(k);
        mine.sort_unstable_by(|a, b| b.cmp(a));
        let hashes: Vec<EntryHash> = mine
            .into_iter()
            .map(|i| self.net.swap_remove(i).hash)
            .collect();
        if hashes.is_empty() {
            return Ok(());
        }
        self.deliver(p, hashes).map(|_| ())
    }

    /// Delivers every message in flight: each peer's in one shuffled batch.
    pub fn flush(&mut self) -> Result<(), String> {
        while !self.net.is_empty() {
            for p in self.pending_peers() {
                self.deliver_some(p, usize::MAX)?;
            }
        }
        Ok(())
    }

    /// Records a new entry made by peer `p` (or found on its disk) and returns its bytes.
    pub fn register(&mut self, p: usize, hash: EntryHash) -> Rc<[u8]> {
        if let Some(b) = self.bytes.get(&hash) {
            return b.clone();
        }
        let bytes: Rc<[u8]> = inspect::entry_bytes(self.peers[p].ledger(), &hash)
            .unwrap_or_else(|| panic!("entry {hash:?} of peer {p} is not stored"))
            .into();
        self.bytes.insert(hash, bytes.clone());
        self.created.insert(hash, self.tick);
        self.all.push(hash);
        bytes
    }
}
