//! What a host function sees of its run's kill switches: whether the run
//! was asked to stop, and waits that end as soon as it is.
//!
//! A kill switch that fires while a host function runs ends the run when
//! the host function returns (the host-call path checks), so a host
//! function only has to return promptly: long work checks
//! [`Interrupt::requested`] between chunks, and blocking waits go through
//! [`Interrupt::poll`] or [`Interrupt::sleep`], which the kill switch
//! wakes.

use std::io;
use std::time::Duration;

use super::kill::KillState;
use crate::sys::waker;
pub use crate::sys::waker::Wait;

/// The kill state of the run a host function is part of (the run of the
/// instance on this thread's CPU, which for linked instances may be
/// another instance's than the caller's). Obtained from the `Vmctx`, valid
/// for the host call.
#[derive(Clone, Copy)]
pub struct Interrupt<'a> {
    state: &'a KillState,
}

impl std::fmt::Debug for Interrupt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("requested", &self.requested())
            .finish()
    }
}

impl<'a> Interrupt<'a> {
    pub(crate) fn new(state: &'a KillState) -> Self {
        Interrupt { state }
    }

    /// Whether the run was asked to stop: the host function should return
    /// soon (whatever it returns, the run then ends as terminated).
    pub fn requested(&self) -> bool {
        self.state.killed()
    }

    /// Waits until one of `fds` is ready (their `revents` say which), the
    /// timeout passes (`None`: no timeout), or the run is asked to stop
    /// (`Wait::Interrupted`, at once if it already was).
    pub fn poll(&self, fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<Wait> {
        let waker = waker::thread_waker()?;
        if !self.state.begin_wait(waker) {
            return Ok(Wait::Interrupted);
        }
        let result = waker::poll_with_waker(fds, waker, timeout);
        if self.state.end_wait() {
            // Killed between the poll's return and the end of the wait: the
            // wake-up may still be pending.
            waker::drain(waker);
            return Ok(Wait::Interrupted);
        }
        result
    }

    /// Sleeps for `duration`, or until the run is asked to stop.
    pub fn sleep(&self, duration: Duration) -> io::Result<Wait> {
        self.poll(&mut [], Some(duration))
    }
}
