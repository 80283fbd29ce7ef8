//! Header calls, the same for requests, responses and trailers: each takes
//! the header map and the call's arguments after the handle.

use hyper::header::HeaderName;
use hyper::HeaderMap;

use super::super::memory::Memory;
use super::super::state::{header, room_for, InstanceLimits};
use super::super::status::{CallResult, Status};
use super::args::Args;

/// The name at arguments `i`, `i + 1` (pointer, length).
fn name_at(m: &Memory<'_>, a: &Args<'_>, i: usize) -> CallResult<HeaderName> {
    HeaderName::from_bytes(m.bytes(a.u32(i), a.u32(i + 1))?).map_err(|_| Status::Inval)
}

/// `names_get(h, buf, buf_len, cursor, ending_cursor_out, nwritten_out)`.
pub(super) fn names_get(h: &HeaderMap, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let names = h.keys().map(|n| n.as_str().as_bytes());
    m.write_values(names, 0, (a.u32(1), a.u32(2)), a.u32(3), a.u32(4), a.u32(5))
}

/// `value_get(h, name, name_len, value, value_max_len, nwritten_out)`: the
/// first value.
pub(super) fn value_get(h: &HeaderMap, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = name_at(m, a, 1)?;
    let value = h.get(&name).ok_or(Status::None)?;
    m.write_value(a.u32(3), a.u32(4), value.as_bytes(), a.u32(5))
}

/// `values_get(h, name, name_len, buf, buf_len, cursor, ending_cursor_out,
/// nwritten_out)`.
pub(super) fn values_get(h: &HeaderMap, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = name_at(m, a, 1)?;
    let values = h.get_all(&name).into_iter().map(|v| v.as_bytes());
    m.write_values(
        values,
        0,
        (a.u32(3), a.u32(4)),
        a.u32(5),
        a.u32(6),
        a.u32(7),
    )
}

/// `values_set(h, name, name_len, values, values_len)`: the values are
/// each followed by a NUL byte.
pub(super) fn values_set(
    h: &mut HeaderMap,
    limits: &InstanceLimits,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let name = name_at(m, a, 1)?;
    let list = m.bytes(a.u32(3), a.u32(4))?;
    let mut values = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        values.push(header(name.as_str().as_bytes(), &rest[..end])?.1);
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    let mut next = h.clone();
    next.remove(&name);
    for v in values {
        room_for(&next, name.as_str().len() + v.len(), limits)?;
        next.append(name.clone(), v);
    }
    *h = next;
    Ok(())
}

/// `insert(h, name, name_len, value, value_len)`: replaces every value.
pub(super) fn insert(
    h: &mut HeaderMap,
    limits: &InstanceLimits,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (name, value) = header(m.bytes(a.u32(1), a.u32(2))?, m.bytes(a.u32(3), a.u32(4))?)?;
    let old = h.remove(&name);
    if let Err(e) = room_for(h, name.as_str().len() + value.len(), limits) {
        if let Some(old) = old {
            h.insert(name, old);
        }
        return Err(e);
    }
    h.insert(name, value);
    Ok(())
}

/// `append(h, name, name_len, value, value_len)`.
pub(super) fn append(
    h: &mut HeaderMap,
    limits: &InstanceLimits,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (name, value) = header(m.bytes(a.u32(1), a.u32(2))?, m.bytes(a.u32(3), a.u32(4))?)?;
    room_for(h, name.as_str().len() + value.len(), limits)?;
    h.append(name, value);
    Ok(())
}

/// `remove(h, name, name_len)`: `none` if there was no such header.
pub(super) fn remove(h: &mut HeaderMap, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = name_at(m, a, 1)?;
    h.remove(&name).map(|_| ()).ok_or(Status::None)
}
