//! Edge rate limiting, in process: rate counters (requests per entry, per
//! second, over the last minute) and penalty boxes (entries blocked until
//! a time), shared by every instance of one app. Both are bounded in
//! entries; past the bound, an entry not yet known is refused.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most (counter, entry) pairs, and most (penalty box, entry) pairs, kept.
const MAX_ENTRIES: usize = 100_000;
/// Longest counter, penalty box or entry name.
pub(crate) const MAX_NAME: usize = 256;
/// How far back a counter remembers.
const HORIZON: u64 = 60;

/// The rate windows the ABI allows, in seconds.
pub(crate) const WINDOWS: [u32; 3] = [1, 10, 60];
/// The count durations the ABI allows, in seconds.
pub(crate) const DURATIONS: [u32; 6] = [10, 20, 30, 40, 50, 60];

/// An app's rate counters and penalty boxes.
#[derive(Debug)]
pub(crate) struct Erl {
    start: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<(String, String), Counter>,
    boxes: HashMap<(String, String), Instant>,
}

/// Counts per second, oldest first.
#[derive(Debug, Default)]
struct Counter(VecDeque<(u64, u64)>);

impl Counter {
    fn prune(&mut self, now: u64) {
        while self.0.front().is_some_and(|&(s, _)| s + HORIZON <= now) {
            self.0.pop_front();
        }
    }

    fn add(&mut self, now: u64, delta: u64) {
        self.prune(now);
        match self.0.back_mut() {
            Some((s, c)) if *s == now => *c = c.saturating_add(delta),
            _ => self.0.push_back((now, delta)),
        }
    }

    /// The count over the last `secs` seconds (this one included).
    fn count(&self, now: u64, secs: u64) -> u64 {
        self.0
            .iter()
            .filter(|&&(s, _)| s + secs > now)
            .map(|&(_, c)| c)
            .sum()
    }
}

/// An entry not yet known could not be kept: the tables are full.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full;

impl Default for Erl {
    fn default() -> Self {
        Erl {
            start: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }
}

impl Erl {
    fn now(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `delta` to `entry`'s count in counter `rc`.
    pub fn increment(&self, rc: &str, entry: &str, delta: u32) -> Result<(), Full> {
        let now = self.now();
        let mut s = self.lock();
        let key = (rc.to_string(), entry.to_string());
        if !s.counters.contains_key(&key) && s.counters.len() >= MAX_ENTRIES {
            s.counters.retain(|_, c| {
                c.prune(now);
                !c.0.is_empty()
            });
            if s.counters.len() >= MAX_ENTRIES {
                return Err(Full);
            }
        }
        s.counters
            .entry(key)
            .or_default()
            .add(now, u64::from(delta));
        Ok(())
    }

    /// `entry`'s count in `rc` over the last `secs` seconds.
    pub fn count(&self, rc: &str, entry: &str, secs: u32) -> u64 {
        let now = self.now();
        let s = self.lock();
        s.counters
            .get(&(rc.to_string(), entry.to_string()))
            .map_or(0, |c| c.count(now, u64::from(secs)))
    }

    /// `entry`'s rate in `rc` (per second) over the last `window` seconds.
    pub fn rate(&self, rc: &str, entry: &str, window: u32) -> u64 {
        self.count(rc, entry, window) / u64::from(window.max(1))
    }

    /// Puts `entry` in penalty box `pb` for `ttl`.
    pub fn penalize(&self, pb: &str, entry: &str, ttl: Duration) -> Result<(), Full> {
        let now = Instant::now();
        let mut s = self.lock();
        let key = (pb.to_string(), entry.to_string());
        if !s.boxes.contains_key(&key) && s.boxes.len() >= MAX_ENTRIES {
            s.boxes.retain(|_, until| *until > now);
            if s.boxes.len() >= MAX_ENTRIES {
                return Err(Full);
            }
        }
        s.boxes.insert(key, now + ttl);
        Ok(())
    }

    /// Whether `entry` is in penalty box `pb`.
    pub fn penalized(&self, pb: &str, entry: &str) -> bool {
        let s = self.lock();
        s.boxes
            .get(&(pb.to_string(), entry.to_string()))
            .is_some_and(|until| *until > Instant::now())
    }

    /// Counts `delta` for `entry` in `rc`; whether it is blocked: in `pb`
    /// already, or over `limit` per second over `window` now (then it goes
    /// into `pb` for `ttl`).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        rc: &str,
        entry: &str,
        delta: u32,
        window: u32,
        limit: u32,
        pb: &str,
        ttl: Duration,
    ) -> Result<bool, Full> {
        if self.penalized(pb, entry) {
            return Ok(true);
        }
        self.increment(rc, entry, delta)?;
        if self.rate(rc, entry, window) > u64::from(limit) {
            self.penalize(pb, entry, ttl)?;
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rates_and_boxes() {
        let erl = Erl::default();
        let ttl = Duration::from_secs(60);
        assert_eq!(erl.check("rc", "a", 1, 1, 2, "pb", ttl), Ok(false));
        assert_eq!(erl.check("rc", "a", 1, 1, 2, "pb", ttl), Ok(false));
        // The third within the second passes 2 per second.
        assert_eq!(erl.check("rc", "a", 1, 1, 2, "pb", ttl), Ok(true));
        assert!(erl.penalized("pb", "a"));
        assert_eq!(erl.check("rc", "a", 1, 1, 100, "pb", ttl), Ok(true));
        assert_eq!(erl.count("rc", "a", 10), 3);
        assert_eq!(erl.count("rc", "b", 10), 0);
        assert!(!erl.penalized("pb", "b"));
        assert!(!erl.penalized("other", "a"));
    }

    #[test]
    fn the_tables_are_bounded() {
        let erl = Erl::default();
        for i in 0..MAX_ENTRIES {
            erl.increment("rc", &i.to_string(), 1).unwrap();
        }
        assert_eq!(erl.increment("rc", "one more", 1), Err(Full));
        // A known entry still counts.
        assert_eq!(erl.increment("rc", "7", 1), Ok(()));
    }
}
