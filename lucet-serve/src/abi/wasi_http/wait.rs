//! Waits of a `wasi:http` handler that suspend its instance: a pollable
//! of a moment (`wasi:clocks`' `subscribe-duration`, `subscribe-instant`)
//! sets a timer on the async runtime that wakes the run, and one of an
//! outgoing request's response wakes it when the response is in; the
//! instance yields meanwhile, and its worker runs others, as it does while
//! a Compute app waits. Resumed past its deadline, the run ends as timed
//! out.

use std::sync::Arc;
use std::time::Instant;

use lucet_runtime::component::Val;
use lucet_runtime::{Vmctx, Wait};
use lucet_wasi::component::{ready_indices, HostError, Interfaces, Pollable, Readiness, Signal};

use super::types::{ctx, http_limits};

/// Suspends the instance until `until` passes or one of `signals` is set
/// (or a spurious wake-up): the caller checks again.
fn suspend(
    vmctx: &mut Vmctx,
    until: Option<Instant>,
    signals: &[Arc<Signal>],
) -> Result<(), HostError> {
    let http = http_limits(ctx(vmctx)?)?;
    let waker = http.waker.clone();
    for s in signals {
        if s.wake_on_set(&waker) {
            return Ok(());
        }
    }
    if let Some(until) = until {
        http.io.spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            waker.wake();
        });
    }
    vmctx.yield_();
    if vmctx.interrupt().requested() {
        return Err(HostError("stopped while waiting".into()));
    }
    Ok(())
}

/// Waits a little on the run's thread, for what nothing wakes the run for
/// (a descriptor); the deadline still ends it.
fn nap(vmctx: &mut Vmctx) -> Result<(), HostError> {
    match vmctx
        .interrupt()
        .sleep(std::time::Duration::from_millis(1))
        .map_err(|e| HostError(e.to_string()))?
    {
        Wait::Interrupted => Err(HostError("stopped while waiting".into())),
        _ => Ok(()),
    }
}

/// Waits until one of `readiness` may be ready, suspending the instance
/// when what it waits for wakes it.
fn wait_any(vmctx: &mut Vmctx, readiness: &[Readiness]) -> Result<(), HostError> {
    let earliest = readiness
        .iter()
        .filter_map(|r| match r {
            Readiness::At(t) => Some(*t),
            _ => None,
        })
        .min();
    let signals: Vec<Arc<Signal>> = readiness
        .iter()
        .filter_map(|r| match r {
            Readiness::Signal(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let others = readiness
        .iter()
        .any(|r| matches!(r, Readiness::Fd { .. } | Readiness::Now));
    if others || (earliest.is_none() && signals.is_empty()) {
        return nap(vmctx);
    }
    suspend(vmctx, earliest, &signals)
}

/// Replaces `wasi:io/poll`'s waits with ones that suspend.
pub(super) fn add(interfaces: &mut Interfaces) {
    interfaces.func("wasi:io/poll", "[method]pollable.block", |vmctx, args| {
        loop {
            let readiness = ctx(vmctx)?.get::<Pollable>(args.at(0)?)?.0.clone();
            if readiness.is_ready() {
                return Ok(None);
            }
            wait_any(vmctx, &[readiness])?;
        }
    });
    interfaces.func("wasi:io/poll", "poll", |vmctx, args| {
        let Val::List(handles) = args.at(0)? else {
            return Err(HostError("poll takes a list".into()));
        };
        if handles.is_empty() || handles.len() > lucet_wasi::component::MAX_POLLABLES {
            return Err(HostError(format!(
                "poll of {} pollables; from 1 to {}",
                handles.len(),
                lucet_wasi::component::MAX_POLLABLES
            )));
        }
        let mut readiness = Vec::with_capacity(handles.len());
        let c = ctx(vmctx)?;
        for h in handles {
            readiness.push(c.get::<Pollable>(h)?.0.clone());
        }
        loop {
            let ready = ready_indices(&readiness);
            if !ready.is_empty() {
                return Ok(Some(Val::List(ready)));
            }
            wait_any(vmctx, &readiness)?;
        }
    });
}
