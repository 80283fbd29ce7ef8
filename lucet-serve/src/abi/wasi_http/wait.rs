//! Waits of a `wasi:http` handler that suspend its instance: a pollable
//! of a moment (`wasi:clocks`' `subscribe-duration`, `subscribe-instant`)
//! sets a timer on the async runtime that wakes the run, and the instance
//! yields; its worker runs others meanwhile, as it does while a Compute
//! app waits. Resumed past its deadline, the run ends as timed out.

use std::time::Instant;

use lucet_runtime::component::Val;
use lucet_runtime::{Vmctx, Wait};
use lucet_wasi::component::{
    ready_indices, ComponentCtx, HostError, Interfaces, Pollable, Readiness,
};

use super::types::HttpLimits;

fn ctx(vmctx: &mut Vmctx) -> Result<&mut ComponentCtx, HostError> {
    vmctx
        .embed_ctx_mut::<ComponentCtx>()
        .ok_or_else(|| HostError("the instance has no ComponentCtx".into()))
}

/// Suspends the instance until `until` (or a spurious wake-up): the
/// caller checks again.
fn suspend_until(vmctx: &mut Vmctx, until: Instant) -> Result<(), HostError> {
    let http = ctx(vmctx)?
        .extension_mut::<HttpLimits>()
        .ok_or_else(|| HostError("the instance was not started by the wasi:http ABI".into()))?;
    let waker = http.waker.clone();
    http.io.spawn(async move {
        tokio::time::sleep_until(until.into()).await;
        waker.wake();
    });
    vmctx.yield_();
    if vmctx.interrupt().requested() {
        return Err(HostError("stopped while waiting".into()));
    }
    Ok(())
}

/// Replaces `wasi:io/poll`'s waits with ones that suspend.
pub(super) fn add(interfaces: &mut Interfaces) {
    interfaces.func("wasi:io/poll", "[method]pollable.block", |vmctx, args| {
        loop {
            let readiness = ctx(vmctx)?.get::<Pollable>(args.at(0)?)?.0;
            match readiness {
                Readiness::At(t) if !readiness.is_ready() => suspend_until(vmctx, t)?,
                _ => return Ok(None),
            }
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
        loop {
            let mut readiness = Vec::with_capacity(handles.len());
            let c = ctx(vmctx)?;
            for h in handles {
                readiness.push(c.get::<Pollable>(h)?.0);
            }
            let ready = ready_indices(&readiness);
            if !ready.is_empty() {
                return Ok(Some(Val::List(ready)));
            }
            let earliest = readiness
                .iter()
                .filter_map(|r| match r {
                    Readiness::At(t) => Some(*t),
                    _ => None,
                })
                .min();
            match earliest {
                Some(t) => suspend_until(vmctx, t)?,
                // Only moments are ever not ready here.
                None => {
                    if let Wait::Interrupted = vmctx
                        .interrupt()
                        .sleep(std::time::Duration::from_millis(1))
                        .map_err(|e| HostError(e.to_string()))?
                    {
                        return Err(HostError("stopped while waiting".into()));
                    }
                }
            }
        }
    });
}
