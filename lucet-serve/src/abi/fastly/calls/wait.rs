//! The calls that may wait: the guest is suspended in its slot until what
//! it waits for is ready (its run's waker is woken), and its worker runs
//! other instances meanwhile. The route's deadline holds while it waits:
//! past it the run is ended.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::super::memory::Memory;
use bytes::Bytes;

use super::super::state::{
    AsyncItem, FastlyState, Sink, StreamedTo, INVALID_HANDLE, MAX_HANDLES, STREAM_CHUNK,
};
use super::super::status::{CallResult, Status};
use super::args::Args;
use super::backend::{backend_name, detail_tag, write_detail};
use super::body;
use crate::engine::GuestCx;

/// What `select` writes when its timeout passes first.
const TIMED_OUT: u32 = u32::MAX;

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
/// ready item (a body is ready at once, a pending request once its
/// response is in), waiting for one at most `timeout_ms` (0: no timeout),
/// or `u32::MAX` when the timeout passes first. An empty list with a
/// timeout is a timer (what JavaScript's `setTimeout` becomes).
pub(super) fn select(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let (list, count, timeout_ms, out) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if count as usize > MAX_HANDLES || (count == 0 && timeout_ms == 0) {
        return Err(Status::Inval);
    }
    let hs = {
        let mut m = Memory(cx.memory());
        m.check_u32(out)?;
        read_handles(&mut m, list, count)?
    };
    for &h in &hs {
        s.items.get(h)?;
    }
    let waker = s.run.waker.clone();
    let cache = s.local.cache.clone();
    let timeout = (timeout_ms > 0).then(|| timer(s, Duration::from_millis(u64::from(timeout_ms))));
    let mut timeout = timeout.map(Box::pin);
    let ready = std::future::poll_fn(|c| {
        for (i, &h) in hs.iter().enumerate() {
            let ready = match s.items.get_mut(h) {
                Ok(AsyncItem::Pending(p)) => p.poll_done(c).is_ready(),
                Ok(AsyncItem::CacheBusy(b)) => b.poll_done(&cache, c).is_ready(),
                Ok(AsyncItem::Promise(p)) => p.promise.poll_ready(c).is_ready(),
                Ok(AsyncItem::HttpCache(h)) => h.poll_resolved(&cache, c).is_ready(),
                // A body still arriving is ready once it has bytes (or
                // has ended, or failed).
                Ok(AsyncItem::Body(b)) if b.source.is_some() => s.poll_fill(h, c).is_ready(),
                _ => true,
            };
            if ready {
                return Poll::Ready(i as u32);
            }
        }
        if let Some(t) = timeout.as_mut() {
            if t.as_mut().poll(c).is_ready() {
                return Poll::Ready(TIMED_OUT);
            }
        }
        Poll::Pending
    });
    let index = wait_with(&waker, cx, ready)?;
    Memory(cx.memory()).write_u32(out, index)
}

/// Waits until pending request `h` is done.
fn wait_done(s: &mut FastlyState, cx: &mut dyn GuestCx, h: u32) -> CallResult {
    s.pending_mut(h)?;
    // The future borrows the state: the waker is taken before.
    let waker = s.run.waker.clone();
    let done = std::future::poll_fn(|c| match s.pending_mut(h) {
        Ok(p) => p.poll_done(c),
        Err(_) => Poll::Ready(()),
    });
    wait_with(&waker, cx, done)
}

/// Waits until body `h`, if it is still arriving, has arrived whole (for
/// what uses a body whole). A handle that is not a body is left to the
/// call to refuse.
pub(super) fn complete(s: &mut FastlyState, cx: &mut dyn GuestCx, h: u32) -> CallResult {
    if !s.is_arriving(h) {
        return Ok(());
    }
    let waker = s.run.waker.clone();
    wait_with(&waker, cx, std::future::poll_fn(|c| s.poll_complete(h, c)))?
}

/// `(h, buf, buf_len, nread_out)`: waits, for a body still arriving, until
/// it has bytes or has ended; 0 bytes read is the end.
pub(super) fn body_read(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    if s.is_arriving(h) {
        let waker = s.run.waker.clone();
        wait_with(&waker, cx, std::future::poll_fn(|c| s.poll_fill(h, c)))??;
    }
    body::read(s, &mut Memory(cx.memory()), a)
}

/// [`wait`], with the waker given (for futures that borrow the state).
pub(super) fn wait_with<T>(
    waker: &std::task::Waker,
    cx: &mut dyn GuestCx,
    future: impl Future<Output = T>,
) -> CallResult<T> {
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut Context::from_waker(waker)) {
            return Ok(v);
        }
        cx.suspend().map_err(|_| Status::Error)?;
    }
}

/// Writes the response and body handles of a finished request; with
/// `detail`, its `send_error_detail`. A failed request is `error` (with
/// the failure's tag in the detail), or `inval` for an unknown backend.
fn finish(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    h: u32,
    detail: Option<u32>,
    (resp_out, body_out): (u32, u32),
) -> CallResult {
    let outcome = s.take_response(h)?;
    let mut m = Memory(cx.memory());
    if let Some(d) = detail {
        write_detail(&mut m, d, detail_tag(&outcome))?;
    }
    let (resp, body) = outcome.map_err(|_| Status::Error)?;
    m.write_u32(resp_out, resp)?;
    m.write_u32(body_out, body)
}

/// Sends and waits: `(h, body, backend, backend_len, [error_detail,]
/// resp_out, body_out)`.
fn send_and_wait(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
    detail: Option<u32>,
    outs: (u32, u32),
) -> CallResult {
    let name = {
        let mut m = Memory(cx.memory());
        m.check_u32(outs.0)?;
        m.check_u32(outs.1)?;
        if let Some(d) = detail {
            write_detail(&mut m, d, 0)?;
        }
        backend_name(&m, a, 2)?.to_string()
    };
    complete(s, cx, a.u32(1))?;
    let h = match s.send_async(a.u32(0), a.u32(1), &name) {
        Ok(h) => h,
        Err((status, tag)) => {
            if let Some(d) = detail {
                write_detail(&mut Memory(cx.memory()), d, tag)?;
            }
            return Err(status);
        }
    };
    wait_done(s, cx, h)?;
    finish(s, cx, h, detail, outs)
}

/// `(h, body, backend, backend_len, resp_out, body_out)`.
pub(super) fn send(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    send_and_wait(s, cx, a, None, (a.u32(4), a.u32(5)))
}

/// `(h, body, backend, backend_len, error_detail, resp_out, body_out)`.
pub(super) fn send_v2(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    send_and_wait(s, cx, a, Some(a.u32(4)), (a.u32(5), a.u32(6)))
}

/// `(h, resp_out, body_out)`.
pub(super) fn pending_req_wait(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    wait_done(s, cx, a.u32(0))?;
    finish(s, cx, a.u32(0), None, (a.u32(1), a.u32(2)))
}

/// `(h, error_detail, resp_out, body_out)`.
pub(super) fn pending_req_wait_v2(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    wait_done(s, cx, a.u32(0))?;
    finish(s, cx, a.u32(0), Some(a.u32(1)), (a.u32(2), a.u32(3)))
}

/// The `count` handles (`u32`s) at `list`.
fn read_handles(m: &mut Memory<'_>, list: u32, count: u32) -> CallResult<Vec<u32>> {
    let mut hs = Vec::with_capacity(count as usize);
    for i in 0..count {
        let at = list.checked_add(i * 4).ok_or(Status::Inval)?;
        hs.push(m.read_u32(at)?);
    }
    Ok(hs)
}

/// The pending request handles at `(list, count)`, checked.
fn handles(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    list: u32,
    count: u32,
) -> CallResult<Vec<u32>> {
    if count == 0 || count as usize > MAX_HANDLES {
        return Err(Status::Inval);
    }
    let hs = read_handles(&mut Memory(cx.memory()), list, count)?;
    for &h in &hs {
        s.pending_mut(h)?;
    }
    Ok(hs)
}

/// Waits until one of `hs` is done: its index.
fn wait_any(s: &mut FastlyState, cx: &mut dyn GuestCx, hs: &[u32]) -> CallResult<u32> {
    let waker = s.run.waker.clone();
    let any = std::future::poll_fn(|c| {
        for (i, &h) in hs.iter().enumerate() {
            let done = match s.pending_mut(h) {
                Ok(p) => p.poll_done(c).is_ready(),
                Err(_) => true,
            };
            if done {
                return Poll::Ready(i as u32);
            }
        }
        Poll::Pending
    });
    wait_with(&waker, cx, any)
}

/// `(handles, count, [error_detail,] done_index_out, resp_out, body_out)`:
/// waits for the first of the requests; a failed one gives invalid
/// handles.
fn select_requests(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
    detail: Option<u32>,
    (index_out, resp_out, body_out): (u32, u32, u32),
) -> CallResult {
    {
        let mut m = Memory(cx.memory());
        for p in [index_out, resp_out, body_out] {
            m.check_u32(p)?;
        }
    }
    let hs = handles(s, cx, a.u32(0), a.u32(1))?;
    let i = wait_any(s, cx, &hs)?;
    let outcome = s.take_response(hs[i as usize])?;
    let mut m = Memory(cx.memory());
    if let Some(d) = detail {
        write_detail(&mut m, d, detail_tag(&outcome))?;
    }
    let (resp, body) = outcome.unwrap_or((INVALID_HANDLE, INVALID_HANDLE));
    m.write_u32(index_out, i)?;
    m.write_u32(resp_out, resp)?;
    m.write_u32(body_out, body)
}

pub(super) fn pending_req_select(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    select_requests(s, cx, a, None, (a.u32(2), a.u32(3), a.u32(4)))
}

pub(super) fn pending_req_select_v2(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    select_requests(s, cx, a, Some(a.u32(2)), (a.u32(3), a.u32(4), a.u32(5)))
}

/// Sends what streamed body `h` holds, then `extra`, to the client,
/// waiting while the connection is behind. Past the route's response body
/// limit the stream is cut and the call fails.
fn flush_stream(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    h: u32,
    mut extra: Option<Bytes>,
) -> CallResult {
    loop {
        let chunk = match s.pop_body(h)? {
            Some(c) => c,
            None => match extra.take() {
                Some(c) => c,
                None => return Ok(()),
            },
        };
        if chunk.is_empty() {
            continue;
        }
        let stream = s.body_mut(h)?.stream.as_mut().ok_or(Status::Badf)?;
        stream.sent += chunk.len() as u64;
        if stream.sent > stream.limit {
            // Dropping the unfinished sender cuts the body short.
            let to = stream.to;
            s.body_mut(h)?.stream = None;
            if to == StreamedTo::Client {
                s.abandoned = true;
            }
            return Err(Status::Limitexceeded);
        }
        let sender = match &mut stream.sink {
            Sink::Channel(sender) => sender.chunks().clone(),
            // The cache takes it at once, or refuses it.
            Sink::Cache(writer) => {
                writer.write(chunk)?;
                continue;
            }
        };
        let waker = s.run.waker.clone();
        match wait_with(&waker, cx, sender.reserve_owned())? {
            Ok(permit) => {
                permit.send(chunk);
            }
            // The client has gone.
            Err(_) => return Err(Status::Error),
        }
    }
}

fn is_streamed(s: &FastlyState, h: u32) -> CallResult<bool> {
    Ok(s.body(h)?.stream.is_some())
}

/// `(h, buf, buf_len, end, nwritten_out)`: to a streamed body, at most
/// 64 KiB a call (`nwritten` says how much), at its end only.
pub(super) fn body_write(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    if !is_streamed(s, h)? {
        // Written at either end of all of it.
        complete(s, cx, h)?;
        return body::write_held(s, &mut Memory(cx.memory()), a);
    }
    let (buf, len, end, nwritten) = (a.u32(1), a.u32(2), a.u32(3), a.u32(4));
    if end != 0 {
        // What went to the client cannot be prepended to.
        return Err(Status::Inval);
    }
    let take = len.min(STREAM_CHUNK);
    let chunk = {
        let mut m = Memory(cx.memory());
        m.write_u32(nwritten, 0)?;
        Bytes::copy_from_slice(m.bytes(buf, take)?)
    };
    flush_stream(s, cx, h, Some(chunk))?;
    Memory(cx.memory()).write_u32(nwritten, take)
}

/// `(dest, src)`: moves `src` to the end of `dest` and closes it; to a
/// streamed body, it is sent.
pub(super) fn body_append(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let (dest, src) = (a.u32(0), a.u32(1));
    complete(s, cx, dest)?;
    complete(s, cx, src)?;
    if !is_streamed(s, dest)? {
        return s.append_body(dest, src);
    }
    if dest == src {
        return Err(Status::Badf);
    }
    let bytes = s.take_body_bytes(src)?;
    flush_stream(s, cx, dest, Some(bytes))
}

/// `(h)`: a streamed body is sent to its end and finished; any other is
/// dropped.
pub(super) fn body_close(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    if !is_streamed(s, h)? {
        return s.take_body(h).map(drop);
    }
    flush_stream(s, cx, h, None)?;
    s.finish_streaming(h)
}
