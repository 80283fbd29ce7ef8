//! Bodies (`fastly_http_body`), and whether one is ready
//! (`fastly_async_io.is_ready`). The host holds bodies in chunks; every
//! byte counts against the instance's budget. The downstream request's
//! body arrives as the guest reads it: a read waits for its next chunk,
//! and what uses a body whole waits for all of it (`wait.rs`), as writing
//! to, appending to and closing a streamed body wait for the client's
//! connection.

use super::super::memory::Memory;
use super::super::state::FastlyState;
use super::super::status::{CallResult, Status};
use super::args::Args;
use super::headers;

/// `(body_out)`.
pub(super) fn new(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    m.check_u32(a.u32(0))?;
    let h = s.new_body()?;
    m.write_u32(a.u32(0), h)
}

/// `(h, buf, buf_len, nread_out)` on what is held (`wait::body_read`
/// waits first for a body still arriving): 0 bytes read is the end.
pub(super) fn read(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (h, buf, len, nread) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    // The buffer and the out-pointer are checked before anything is taken.
    m.bytes_mut(buf, len)?;
    m.write_u32(nread, 0)?;
    let bytes = s.read_body(h, len as usize)?;
    m.write(buf, &bytes)?;
    m.write_u32(nread, bytes.len() as u32)
}

/// `(h, buf, buf_len, end, nwritten_out)` on a body that is not streamed:
/// `end` 0 appends, 1 prepends.
pub(super) fn write_held(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (h, buf, len, end, nwritten) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3), a.u32(4));
    let front = match end {
        0 => false,
        1 => true,
        _ => return Err(Status::Inval),
    };
    m.write_u32(nwritten, 0)?;
    let bytes = m.bytes(buf, len)?;
    s.write_body(h, bytes, front)?;
    m.write_u32(nwritten, len)
}

/// `(h)`: a streamed body is cut short (the client sees an incomplete
/// response); any other is dropped.
pub(super) fn abandon(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    let to_client = s.body(h)?.stream.as_ref().map(|st| st.to);
    if to_client == Some(super::super::state::StreamedTo::Client) {
        s.abandoned = true;
    }
    // Dropping an unfinished stream's sender cuts it.
    s.take_body(h).map(drop)
}

/// `(h, length_out)`: a `u64`; `none` for a body still being streamed or
/// still arriving.
pub(super) fn known_length(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let body = s.body(a.u32(0))?;
    if body.stream.is_some() || body.source.is_some() {
        return Err(Status::None);
    }
    let len = body.len();
    m.write_u64(a.u32(1), len)
}

pub(super) fn trailer_append(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let limits = &s.limits;
    let FastlyState { items, .. } = s;
    let super::super::state::AsyncItem::Body(b) = items.get_mut(a.u32(0))? else {
        return Err(Status::Badf);
    };
    headers::append(&mut b.trailers, limits, m, a)
}

pub(super) fn trailer_names_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::names_get(&s.body(a.u32(0))?.trailers, m, a)
}

pub(super) fn trailer_value_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::value_get(&s.body(a.u32(0))?.trailers, m, a)
}

pub(super) fn trailer_values_get(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    headers::values_get(&s.body(a.u32(0))?.trailers, m, a)
}

/// `(h, ready_out)`: whether waiting on `h` would return at once.
pub(super) fn is_ready(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let ready = s.is_ready(a.u32(0))?;
    m.write_u32(a.u32(1), u32::from(ready))
}
