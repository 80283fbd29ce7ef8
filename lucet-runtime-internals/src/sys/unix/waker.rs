//! Waking a thread that waits in a host call: one `eventfd` per thread
//! that runs guests, made the first time one of its host calls waits, and
//! closed with the thread. A kill switch writes to the waiting thread's
//! eventfd; the wait polls it along with what it waits for.

use std::cell::OnceCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

thread_local! {
    static WAKER: OnceCell<OwnedFd> = const { OnceCell::new() };
}

/// This thread's eventfd (non-blocking, close-on-exec).
pub fn thread_waker() -> io::Result<RawFd> {
    WAKER.with(|w| {
        if let Some(fd) = w.get() {
            return Ok(fd.as_raw_fd());
        }
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // descriptor that we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = owned.as_raw_fd();
        let _ = w.set(owned);
        Ok(raw)
    })
}

/// Makes `fd` (a thread's waker) readable. Async with respect to the
/// waiting thread: called from any thread, while the waiter is registered.
pub fn wake(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd; a failure
    // (the counter is saturated: the waiter is being woken anyway) is
    // harmless.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Empties `fd` (this thread's waker) after a wake-up.
pub fn drain(fd: RawFd) {
    let mut count: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64 from a non-blocking eventfd;
    // nothing to read (EAGAIN) is fine.
    unsafe { libc::read(fd, (&mut count as *mut u64).cast(), 8) };
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// At least one of the descriptors is ready (see their `revents`).
    Ready,
    /// The timeout passed first.
    TimedOut,
    /// The run was asked to stop (kill switch, timeout).
    Interrupted,
}

/// `ppoll` on `fds` and this thread's `waker`, until one is ready or
/// `timeout` passes (`None`: no timeout), retrying after signals. Returns
/// whether the waker fired (and drains it) or which came first.
pub fn poll_with_waker(
    fds: &mut [libc::pollfd],
    waker: RawFd,
    timeout: Option<Duration>,
) -> io::Result<Wait> {
    let mut all: Vec<libc::pollfd> = Vec::with_capacity(fds.len() + 1);
    all.extend_from_slice(fds);
    all.push(libc::pollfd {
        fd: waker,
        events: libc::POLLIN,
        revents: 0,
    });
    let deadline = timeout.map(|t| Instant::now().checked_add(t));
    loop {
        let remaining = match deadline {
            None => None,
            // A deadline past what Instant can hold is no deadline.
            Some(None) => None,
            Some(Some(d)) => Some(d.saturating_duration_since(Instant::now())),
        };
        let ts = remaining.map(|r| libc::timespec {
            tv_sec: r.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: r.subsec_nanos() as libc::c_long,
        });
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `all` is a valid array of its length; `tsp` is null or
        // points at a live timespec; no signal mask is passed.
        let n = unsafe {
            libc::ppoll(
                all.as_mut_ptr(),
                all.len() as libc::nfds_t,
                tsp,
                std::ptr::null(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let (watched, own) = all.split_at(fds.len());
        fds.copy_from_slice(watched);
        if own[0].revents != 0 {
            drain(waker);
            return Ok(Wait::Interrupted);
        }
        return Ok(if n == 0 { Wait::TimedOut } else { Wait::Ready });
    }
}
