//! What a request's run gets from the server besides the request, and how
//! far one step of it got: the terms between the workers and the ABIs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::oneshot;

use crate::request::{GuestResponse, HandlerError};

/// What a request's client gets.
type Answer = Result<GuestResponse, HandlerError>;

/// The answer to a request's client: sent once, by the worker when the run
/// ends, or by the ABI during the run (a response whose body it streams).
#[derive(Clone)]
pub(crate) struct Responder {
    reply: Arc<Mutex<Option<oneshot::Sender<Answer>>>>,
}

impl Responder {
    pub fn new(reply: oneshot::Sender<Answer>) -> Responder {
        Responder {
            reply: Arc::new(Mutex::new(Some(reply))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<oneshot::Sender<Answer>>> {
        self.reply.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers, unless it was answered already: whether this answered.
    pub fn send(&self, answer: Answer) -> bool {
        match self.lock().take() {
            // The client may have gone; the answer is dropped then.
            Some(reply) => {
                let _ = reply.send(answer);
                true
            }
            None => false,
        }
    }

    /// Whether it has answered its client (and so can be rearmed).
    pub fn has_answered(&self) -> bool {
        self.lock().is_none()
    }

    /// Makes it answer another client, `reply` (a reused instance's next
    /// request), once the one before was answered: whether it did.
    pub fn rearm(&self, reply: oneshot::Sender<Answer>) -> bool {
        let mut slot = self.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(reply);
        true
    }

    /// Whether the client has gone before it was answered.
    pub fn is_closed(&self) -> bool {
        self.lock().as_ref().is_some_and(|r| r.is_closed())
    }

    /// As [`is_closed`](Self::is_closed), registering `cx`'s waker to be
    /// woken when the client goes.
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self.lock().as_mut() {
            Some(r) => r.poll_closed(cx),
            None => Poll::Pending,
        }
    }
}

/// A run's request to have its time and fuel limits started again (a
/// reused instance taking its next request): the worker applies it when
/// the run next suspends.
#[derive(Clone, Default)]
pub(crate) struct Renewal(Arc<AtomicBool>);

impl Renewal {
    /// Asks for the limits to start again.
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether they were asked to start again (once).
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// What a request's run gets from the server besides the request.
pub(crate) struct RunContext {
    /// Wakes the run when what it is suspended for is ready.
    pub waker: Waker,
    /// The async runtime, for the I/O its host calls start.
    pub io: tokio::runtime::Handle,
    /// The answer to the client, for an ABI that answers before the run
    /// ends.
    pub responder: Responder,
    /// Starts the run's limits again.
    pub renewal: Renewal,
}

/// Where handling a request stands.
pub(crate) enum Progress<R> {
    /// The response, or why there is none.
    Done(Result<GuestResponse, HandlerError>),
    /// The run ended after the ABI had answered (through the
    /// [`Responder`]); an error here can only be logged.
    Answered(Result<(), HandlerError>),
    /// The run is suspended in its slot.
    Suspended(R),
}
