//! Reusable sandboxes (`fastly_http_downstream.next_request` and its
//! wait and abandon): an instance that has answered its request takes
//! another of its route's requests, in its slot. Making the promise
//! answers a response sent whole at once and starts the route's time
//! limit again, so that the wait has it; a promise waits at most half of
//! it (less if the app asks), then the session ends (`none`).

use std::time::Duration;

use super::super::memory::Memory;
use super::super::state::{AsyncItem, FastlyState};
use super::super::status::{CallResult, Status};
use super::args::Args;
use super::wait::wait_with;
use crate::engine::GuestCx;

/// `next_request_options_mask`: bit 0 is reserved.
const TIMEOUT: u32 = 1 << 1;

/// `(options_mask, options, promise_out)`: a promise of the route's next
/// request (one open at a time).
pub(super) fn next_request(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (mask, options, out) = (a.u32(0), a.u32(1), a.u32(2));
    if mask & !(1 | TIMEOUT) != 0 {
        return Err(Status::Inval);
    }
    let longest = s.limits.timeout / 2;
    let wait = if mask & TIMEOUT != 0 {
        Duration::from_millis(m.read_u64(options)?).min(longest)
    } else {
        longest
    };
    m.check_u32(out)?;
    if s.promise_open || s.items.is_full() {
        return Err(Status::Limitexceeded);
    }
    let promise = s.local.sandboxes.promise(wait, &s.run.io);
    let h = s.items.insert(AsyncItem::Promise(promise))?;
    s.promise_open = true;
    // Waiting first, then answering: the client's next request (or
    // anyone's) finds the promise.
    s.answer_now();
    s.run.renewal.request();
    m.write_u32(out, h)
}

/// `(promise, request_out, body_out)`: waits for the request promised
/// (the promise is used up, whatever the outcome). `unsupported` while the
/// current request is not answered (a streamed response not finished),
/// `none` when no request came before the promise expired.
pub(super) fn next_request_wait(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    let (h, req_out, body_out) = (a.u32(0), a.u32(1), a.u32(2));
    {
        let mut m = Memory(cx.memory());
        m.check_u32(req_out)?;
        m.check_u32(body_out)?;
    }
    let AsyncItem::Promise(_) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    let AsyncItem::Promise(promise) = s.items.remove(h)? else {
        return Err(Status::Badf);
    };
    s.promise_open = false;
    s.answer_now();
    if !s.is_answered() {
        return Err(Status::Unsupported);
    }
    let waker = s.run.waker.clone();
    wait_with(
        &waker,
        cx,
        std::future::poll_fn(|c| promise.promise.poll_ready(c)),
    )?;
    let Some(next) = promise.promise.take() else {
        return Err(Status::None);
    };
    let (req, body) = s.take_next(next)?;
    // The limits start again when the run next suspends: it does so at
    // once (woken at once), so the app runs its handler under them.
    waker.wake_by_ref();
    cx.suspend().map_err(|_| Status::Error)?;
    let mut m = Memory(cx.memory());
    m.write_u32(req_out, req)?;
    m.write_u32(body_out, body)
}

/// `(promise)`: no further request for this instance. A request handed to
/// it meanwhile (and not taken) goes to a fresh instance.
pub(super) fn next_request_abandon(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let h = a.u32(0);
    let AsyncItem::Promise(_) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    let AsyncItem::Promise(promise) = s.items.remove(h)? else {
        return Err(Status::Badf);
    };
    s.promise_open = false;
    // Dropped, the promise gives back what was handed to it.
    drop(promise);
    Ok(())
}
