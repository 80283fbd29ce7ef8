//! Reusable sandboxes (`next_request`): an instance that has answered its
//! request may ask for another of its route's requests instead of ending.
//! It registers a [`Promise`] with its route's [`Sandboxes`]; a request
//! that comes in while a promise waits is handed to the instance that has
//! waited longest, in its slot, before any new instance is started for
//! it. A promise that nothing fulfils before it expires ends the session.
//! A request handed to an instance that does not take it (the instance
//! abandons its promise, ends, or cannot hold another request) goes back
//! to the server's task for it, which starts a fresh instance.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::request::{GuestRequest, GuestResponse, HandlerError};

/// Where a request's answer goes.
pub(crate) type Reply = oneshot::Sender<Result<GuestResponse, HandlerError>>;

/// Where a request handed to a waiting instance and not taken goes back.
pub(crate) type GivenBack = oneshot::Receiver<(GuestRequest, Reply)>;

/// A request handed to a waiting instance, with where its answer goes.
/// Dropped before the instance takes it, it goes back to the server.
pub(crate) struct NextRequest {
    parts: Option<(GuestRequest, Reply)>,
    give_back: Option<oneshot::Sender<(GuestRequest, Reply)>>,
}

impl NextRequest {
    /// The request and where its answer goes, for the instance serving it.
    pub fn take(mut self) -> (GuestRequest, Reply) {
        self.parts.take().expect("a request is taken once")
    }
}

impl Drop for NextRequest {
    fn drop(&mut self) {
        if let (Some(parts), Some(back)) = (self.parts.take(), self.give_back.take()) {
            // The server's task for the request starts a fresh instance;
            // if that task has gone (its client left), so has the request.
            let _ = back.send(parts);
        }
    }
}

/// The instances of one route (one load of it) waiting for a request.
#[derive(Default)]
pub(crate) struct Sandboxes {
    /// Oldest first; a promise dropped is skipped.
    waiting: Mutex<VecDeque<Weak<Promise>>>,
}

impl std::fmt::Debug for Sandboxes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandboxes")
            .field("waiting", &self.waiting().len())
            .finish()
    }
}

impl Sandboxes {
    fn waiting(&self) -> MutexGuard<'_, VecDeque<Weak<Promise>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new promise, waiting for a request until `expires` has passed
    /// (the expiry is run by `io`).
    pub fn promise(&self, expires: Duration, io: &tokio::runtime::Handle) -> PromiseHandle {
        let promise = Arc::new(Promise {
            state: Mutex::new(State::Waiting(None)),
        });
        let timed = Arc::downgrade(&promise);
        let expiry = io.spawn(async move {
            tokio::time::sleep(expires).await;
            if let Some(p) = timed.upgrade() {
                p.close();
            }
        });
        let mut waiting = self.waiting();
        // Promises dropped since are forgotten now and then, so the queue
        // holds no more than about twice the ones alive.
        if waiting.len() >= 64 && waiting.len().is_power_of_two() {
            waiting.retain(|w| w.strong_count() > 0);
        }
        waiting.push_back(Arc::downgrade(&promise));
        PromiseHandle {
            promise,
            expiry: expiry.abort_handle(),
        }
    }

    /// Hands `request` to the instance that has waited longest for a
    /// request, to answer through `reply`: where the request comes back if
    /// that instance does not take it. Gives both back if none waits.
    // The request comes back by value, as it went: boxing it would cost an
    // allocation per request.
    #[allow(clippy::result_large_err)]
    pub fn offer(
        &self,
        request: GuestRequest,
        reply: Reply,
    ) -> Result<GivenBack, (GuestRequest, Reply)> {
        let mut waiting = self.waiting();
        if waiting.is_empty() {
            return Err((request, reply));
        }
        let (give_back, given_back) = oneshot::channel();
        let mut next = Box::new(NextRequest {
            parts: Some((request, reply)),
            give_back: Some(give_back),
        });
        while let Some(w) = waiting.pop_front() {
            let Some(p) = w.upgrade() else {
                continue;
            };
            match p.deliver(next) {
                None => return Ok(given_back),
                Some(back) => next = back,
            }
        }
        Err(next.take())
    }
}

/// An instance's promise to take a further request.
pub(crate) struct Promise {
    state: Mutex<State>,
}

enum State {
    /// No request yet; the waker of the instance waiting, if it waits.
    Waiting(Option<Waker>),
    Delivered(Box<NextRequest>),
    /// Expired, abandoned, or its request taken.
    Closed,
}

impl Promise {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives it `next`, if it still waits (and wakes its instance);
    /// gives `next` back if not.
    fn deliver(&self, next: Box<NextRequest>) -> Option<Box<NextRequest>> {
        let mut state = self.state();
        let State::Waiting(waker) = &mut *state else {
            return Some(next);
        };
        let waker = waker.take();
        *state = State::Delivered(next);
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        None
    }

    /// Ends it: nothing more is delivered (its waiting instance is woken).
    fn close(&self) {
        let mut state = self.state();
        if let State::Waiting(waker) = &mut *state {
            let waker = waker.take();
            *state = State::Closed;
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Whether a request is there or none will come; registers `cx`'s
    /// waker if neither.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state();
        match &mut *state {
            State::Waiting(waker) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            State::Delivered(_) | State::Closed => Poll::Ready(()),
        }
    }

    /// The request delivered, if any (closing it).
    pub fn take(&self) -> Option<NextRequest> {
        match std::mem::replace(&mut *self.state(), State::Closed) {
            State::Delivered(next) => Some(*next),
            State::Waiting(_) | State::Closed => None,
        }
    }
}

/// A promise as an instance holds it (an async item): dropping it
/// abandons the promise, and a request delivered to it and not taken goes
/// back to the server.
pub(crate) struct PromiseHandle {
    pub promise: Arc<Promise>,
    expiry: tokio::task::AbortHandle,
}

impl Drop for PromiseHandle {
    fn drop(&mut self) {
        self.expiry.abort();
        self.promise.close();
        drop(self.promise.take());
    }
}

impl std::fmt::Debug for PromiseHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromiseHandle")
    }
}
