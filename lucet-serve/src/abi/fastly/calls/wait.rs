//! The calls that may wait: the guest is suspended in its slot until what
//! it waits for is ready (its run's waker is woken), and its worker runs
//! other instances meanwhile. The route's deadline holds while it waits:
//! past it the run is ended.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::super::memory::Memory;
use super::super::state::{FastlyState, MAX_HANDLES};
use super::super::status::{CallResult, Status};
use super::args::Args;
use crate::engine::GuestCx;

/// What `select` writes when its timeout passes first.
const TIMED_OUT: u32 = u32::MAX;

/// Waits for `future`, suspending the guest while it is pending; `error`
/// if the run is stopped meanwhile (it ends when the call returns).
fn wait<T>(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    future: impl Future<Output = T>,
) -> CallResult<T> {
    let mut future = pin!(future);
    loop {
        let waker = s.run.waker.clone();
        if let Poll::Ready(v) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return Ok(v);
        }
        cx.suspend().map_err(|_| Status::Error)?;
    }
}

/// A timer on the async runtime: ready after `d`.
fn timer(s: &FastlyState, d: Duration) -> impl Future<Output = ()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    s.run.io.spawn(async move {
        tokio::time::sleep(d).await;
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// `(handles, count, timeout_ms, ready_index_out)`: the index of the first
/// ready handle, waiting for one at most `timeout_ms` (0: no timeout), or
/// `u32::MAX` when the timeout passes first. Bodies are held whole, so a
/// body is ready at once; an empty list with a timeout is a timer (what
/// JavaScript's `setTimeout` becomes).
pub(super) fn select(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let (list, count, timeout_ms, out) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if count as usize > MAX_HANDLES || (count == 0 && timeout_ms == 0) {
        return Err(Status::Inval);
    }
    {
        let mut m = Memory(cx.memory());
        m.check_u32(out)?;
        for i in 0..count {
            let at = list.checked_add(i * 4).ok_or(Status::Inval)?;
            s.items.get(m.read_u32(at)?)?;
        }
        if count > 0 {
            return m.write_u32(out, 0);
        }
    }
    wait(
        s,
        cx,
        timer(s, Duration::from_millis(u64::from(timeout_ms))),
    )?;
    Memory(cx.memory()).write_u32(out, TIMED_OUT)
}
