//! The server-wide budget of request body bytes held for requests: bodies
//! read whole before a handler starts (WAGI) and bodies pumped to a
//! handler as they arrive (Compute) take their bytes from it as they come,
//! and give them back when the request ends. Past it a request is refused
//! (503), so that many clients sending slowly cannot take the server's
//! memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes held for request bodies, all requests together, and the most.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    used: AtomicU64,
    limit: u64,
}

/// One request's share of the budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<BodyBudget>,
    bytes: AtomicU64,
}

impl BodyBudget {
    pub fn new(limit: u64) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            used: AtomicU64::new(0),
            limit,
        })
    }

    /// A share for one request, holding nothing yet.
    pub fn hold(self: &Arc<Self>) -> Arc<Held> {
        Arc::new(Held {
            budget: self.clone(),
            bytes: AtomicU64::new(0),
        })
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

impl Held {
    /// Gives `n` of its bytes back before the end (what was sent).
    pub fn give_back(&self, n: u64) {
        let n = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(n))
            })
            .map_or(0, |before| before.min(n));
        self.budget.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Takes `n` more bytes: false (taking nothing) past the budget.
    pub fn take(&self, n: u64) -> bool {
        let limit = self.budget.limit;
        let taken = self
            .budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&u| u <= limit)
            })
            .is_ok();
        if taken {
            self.bytes.fetch_add(n, Ordering::Relaxed);
        }
        taken
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let n = *self.bytes.get_mut();
        self.budget.used.fetch_sub(n, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_take_from_one_budget_and_give_back_when_dropped() {
        let budget = BodyBudget::new(100);
        let a = budget.hold();
        let b = budget.hold();
        assert!(a.take(60));
        assert!(!b.take(41), "past the budget");
        assert!(b.take(40));
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(b.take(60));
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
