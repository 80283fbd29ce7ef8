//! Edge rate limiting (`fastly_erl`): the app's rate counters and penalty
//! boxes (`erl.rs`), by name.

use std::time::Duration;

use super::super::erl::{DURATIONS, MAX_NAME, WINDOWS};
use super::super::memory::Memory;
use super::super::state::FastlyState;
use super::super::status::{CallResult, Status};
use super::args::Args;

/// The name at arguments `i`, `i + 1`.
fn name<'m>(m: &'m Memory<'_>, a: &Args<'_>, i: usize) -> CallResult<&'m str> {
    if a.u32(i + 1) as usize > MAX_NAME {
        return Err(Status::Inval);
    }
    m.str(a.u32(i), a.u32(i + 1))
}

/// A penalty box's time to live: whole minutes, 1 to 60 (Fastly's rule;
/// seconds are rounded down to minutes).
fn ttl(secs: u32) -> CallResult<Duration> {
    let minutes = secs / 60;
    if !(1..=60).contains(&minutes) {
        return Err(Status::Inval);
    }
    Ok(Duration::from_secs(u64::from(minutes) * 60))
}

fn window(w: u32) -> CallResult<u32> {
    WINDOWS.contains(&w).then_some(w).ok_or(Status::Inval)
}

/// `(rc, rc_len, entry, entry_len, delta, window, limit, pb, pb_len, ttl,
/// blocked_out)`.
pub(super) fn check_rate(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    m.check_u32(a.u32(10))?;
    let (rc, entry, pb) = (name(m, a, 0)?, name(m, a, 2)?, name(m, a, 7)?);
    let (delta, w, limit, ttl) = (a.u32(4), window(a.u32(5))?, a.u32(6), ttl(a.u32(9))?);
    let blocked = s
        .local
        .erl
        .check(rc, entry, delta, w, limit, pb, ttl)
        .map_err(|_| Status::Limitexceeded)?;
    m.write_u32(a.u32(10), u32::from(blocked))
}

/// `(rc, rc_len, entry, entry_len, delta)`.
pub(super) fn increment(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (rc, entry) = (name(m, a, 0)?, name(m, a, 2)?);
    s.local
        .erl
        .increment(rc, entry, a.u32(4))
        .map_err(|_| Status::Limitexceeded)
}

/// `(rc, rc_len, entry, entry_len, window, rate_out)`.
pub(super) fn lookup_rate(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let rate = {
        let (rc, entry) = (name(m, a, 0)?, name(m, a, 2)?);
        s.local.erl.rate(rc, entry, window(a.u32(4))?)
    };
    m.write_u32(a.u32(5), u32::try_from(rate).unwrap_or(u32::MAX))
}

/// `(rc, rc_len, entry, entry_len, duration, count_out)`.
pub(super) fn lookup_count(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let d = a.u32(4);
    if !DURATIONS.contains(&d) {
        return Err(Status::Inval);
    }
    let count = {
        let (rc, entry) = (name(m, a, 0)?, name(m, a, 2)?);
        s.local.erl.count(rc, entry, d)
    };
    m.write_u32(a.u32(5), u32::try_from(count).unwrap_or(u32::MAX))
}

/// `(pb, pb_len, entry, entry_len, ttl)`.
pub(super) fn penaltybox_add(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (pb, entry) = (name(m, a, 0)?, name(m, a, 2)?);
    let ttl = ttl(a.u32(4))?;
    s.local
        .erl
        .penalize(pb, entry, ttl)
        .map_err(|_| Status::Limitexceeded)
}

/// `(pb, pb_len, entry, entry_len, has_out)`.
pub(super) fn penaltybox_has(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let has = {
        let (pb, entry) = (name(m, a, 0)?, name(m, a, 2)?);
        s.local.erl.penalized(pb, entry)
    };
    m.write_u32(a.u32(4), u32::from(has))
}
