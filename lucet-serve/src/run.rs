//! What a request's run gets from the server besides the request, and how
//! far one step of it got: the terms between the workers and the ABIs.

use std::task::Waker;

use crate::request::{GuestResponse, HandlerError};

/// What a request's run gets from the server besides the request.
pub(crate) struct RunContext {
    /// Wakes the run when what it is suspended for is ready.
    pub waker: Waker,
    /// The async runtime, for the I/O its host calls start.
    pub io: tokio::runtime::Handle,
}

/// Where handling a request stands.
pub(crate) enum Progress<R> {
    /// The response, or why there is none.
    Done(Result<GuestResponse, HandlerError>),
    /// The run is suspended in its slot.
    Suspended(R),
}
