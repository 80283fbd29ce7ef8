//! The cache (`fastly_cache`: lookups, inserts, request-collapsing
//! transactions, replaces) and purges by surrogate key (`fastly_purge`).
//! Lookup, busy and replace handles are async items, so that `select`
//! and `is_ready` take them. Every size the guest gives (keys, vary rules,
//! surrogate keys, metadata) is bounded before it is copied.

use std::time::Instant;

use bytes::Bytes;
use hyper::header::HeaderName;
use hyper::HeaderMap;

use super::super::cache::{CachedReader, Found, Meta, Vary, CORE_KEYS, MAX_KEY};
use super::super::memory::Memory;
use super::super::state::{AsyncItem, CacheBusy, CacheHandle, FastlyState};
use super::super::status::{CallResult, Status};
use super::args::Args;
use super::wait::wait_with;
use crate::engine::GuestCx;

/// Longest vary rule (header names separated by spaces).
const MAX_VARY_RULE: u32 = 4096;
/// Most headers one object varies on.
const MAX_VARY_HEADERS: usize = 32;
/// Longest list of surrogate keys, and longest one key.
pub(super) const MAX_SURROGATE_KEYS: u32 = 16 << 10;
const MAX_SURROGATE_KEY: usize = 1024;
/// Most bytes of an object's metadata.
const MAX_USER_METADATA: u32 = 64 << 10;

/// Lookup state flags.
pub(super) const FOUND: u32 = 1 << 0;
pub(super) const USABLE: u32 = 1 << 1;
pub(super) const STALE: u32 = 1 << 2;
pub(super) const MUST_INSERT_OR_UPDATE: u32 = 1 << 3;
pub(super) const USABLE_IF_ERROR: u32 = 1 << 4;

/// Lookup options (`cache_lookup_options_mask`).
mod lookup_mask {
    pub const RESERVED: u32 = 1 << 0;
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    pub const SERVICE: u32 = 1 << 2;
    pub const ALWAYS_USE_REQUESTED_RANGE: u32 = 1 << 3;
}

/// Replace options (`cache_replace_options_mask`).
mod replace_mask {
    pub const RESERVED: u32 = 1 << 0;
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    pub const REPLACE_STRATEGY: u32 = 1 << 2;
    pub const SERVICE: u32 = 1 << 3;
    pub const ALWAYS_USE_REQUESTED_RANGE: u32 = 1 << 4;
}

/// Write options (`cache_write_options_mask`).
/// (Bit 0 is reserved; bit 8, sensitive data, changes nothing here: no
/// object is written to disk.)
mod write_mask {
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    pub const VARY_RULE: u32 = 1 << 2;
    pub const INITIAL_AGE_NS: u32 = 1 << 3;
    pub const STALE_WHILE_REVALIDATE_NS: u32 = 1 << 4;
    pub const SURROGATE_KEYS: u32 = 1 << 5;
    pub const LENGTH: u32 = 1 << 6;
    pub const USER_METADATA: u32 = 1 << 7;
    pub const EDGE_MAX_AGE_NS: u32 = 1 << 9;
    pub const SERVICE: u32 = 1 << 10;
    pub const ALL: u32 = (1 << 11) - 1;
}

/// The replace strategy that treats what is there as absent.
const IMMEDIATE_FORCE_MISS: u32 = 2;

/// Soft purge (`purge_options_mask`); the other bit asks for a purge id,
/// which a local cache has none of.
const SOFT_PURGE: u32 = 1 << 0;

/// The cache key at `(ptr, len)`, in the core cache's part of the store
/// (the HTTP cache's keys begin otherwise).
fn key(m: &Memory<'_>, ptr: u32, len: u32) -> CallResult<Bytes> {
    if len as usize > MAX_KEY {
        return Err(Status::Inval);
    }
    let mut k = Vec::with_capacity(len as usize + 1);
    k.push(CORE_KEYS);
    k.extend_from_slice(m.bytes(ptr, len)?);
    Ok(Bytes::from(k))
}

/// Refuses option bits not in `known`, and options for another service.
pub(super) fn check_mask(mask: u32, known: u32, service: u32) -> CallResult {
    if mask & !known != 0 {
        return Err(Status::Inval);
    }
    if mask & service != 0 {
        // Caching on another service's behalf has no meaning here.
        return Err(Status::Unsupported);
    }
    Ok(())
}

/// The headers of request handle `h`.
fn request_headers(s: &FastlyState, h: u32) -> CallResult<HeaderMap> {
    Ok(s.requests.get(h)?.headers.clone())
}

/// The request headers lookup options name (none: no headers).
fn lookup_headers(
    s: &FastlyState,
    m: &mut Memory<'_>,
    mask: u32,
    options: u32,
) -> CallResult<HeaderMap> {
    use lookup_mask::*;
    check_mask(
        mask,
        RESERVED | REQUEST_HEADERS | SERVICE | ALWAYS_USE_REQUESTED_RANGE,
        SERVICE,
    )?;
    if mask & REQUEST_HEADERS == 0 {
        return Ok(HeaderMap::new());
    }
    request_headers(s, m.read_u32(options)?)
}

/// What write options say: the object's metadata (its vary values still
/// to be taken from a request), the vary rule, and the request handle
/// whose headers those are, if given.
struct WriteOptions {
    meta: Meta,
    vary_rule: Option<Vec<HeaderName>>,
    request: Option<u32>,
}

/// Reads the write options at `options` that `mask` says are there
/// (`cache_write_options`: max age at 0, request handle at 8, vary rule
/// at 12 and 16, initial age at 24, stale-while-revalidate at 32,
/// surrogate keys at 40 and 44, length at 48, metadata at 56 and 60).
fn write_options(m: &mut Memory<'_>, mask: u32, options: u32) -> CallResult<WriteOptions> {
    use write_mask::*;
    check_mask(mask, ALL, SERVICE)?;
    let at = |offset: u32| options.checked_add(offset).ok_or(Status::Inval);
    let mut meta = Meta {
        max_age_ns: m.read_u64(options)?,
        ..Meta::default()
    };
    let request = if mask & REQUEST_HEADERS != 0 {
        Some(m.read_u32(at(8)?)?)
    } else {
        None
    };
    let vary_rule = if mask & VARY_RULE != 0 {
        let (ptr, len) = (m.read_u32(at(12)?)?, m.read_u32(at(16)?)?);
        Some(vary_rule(m, ptr, len)?)
    } else {
        None
    };
    if mask & INITIAL_AGE_NS != 0 {
        meta.initial_age_ns = m.read_u64(at(24)?)?;
    }
    if mask & STALE_WHILE_REVALIDATE_NS != 0 {
        meta.swr_ns = m.read_u64(at(32)?)?;
    }
    if mask & SURROGATE_KEYS != 0 {
        let (ptr, len) = (m.read_u32(at(40)?)?, m.read_u32(at(44)?)?);
        if len > MAX_SURROGATE_KEYS {
            return Err(Status::Inval);
        }
        meta.surrogate_keys = surrogate_keys(m.str(ptr, len)?)?;
    }
    if mask & LENGTH != 0 {
        meta.length = Some(m.read_u64(at(48)?)?);
    }
    if mask & USER_METADATA != 0 {
        let (ptr, len) = (m.read_u32(at(56)?)?, m.read_u32(at(60)?)?);
        if len > MAX_USER_METADATA {
            return Err(Status::Inval);
        }
        meta.user_metadata = Bytes::copy_from_slice(m.bytes(ptr, len)?);
    }
    if mask & EDGE_MAX_AGE_NS != 0 {
        // One cache here: an edge max age has nothing to differ from,
        // but it may not exceed the max age.
        if m.read_u64(at(64)?)? > meta.max_age_ns {
            return Err(Status::Inval);
        }
    }
    Ok(WriteOptions {
        meta,
        vary_rule,
        request,
    })
}

/// The vary rule at `(ptr, len)`: header names separated by spaces, at
/// most 32.
pub(super) fn vary_rule(m: &Memory<'_>, ptr: u32, len: u32) -> CallResult<Vec<HeaderName>> {
    if len > MAX_VARY_RULE {
        return Err(Status::Inval);
    }
    let names = m
        .str(ptr, len)?
        .split_ascii_whitespace()
        .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| Status::Inval))
        .collect::<CallResult<Vec<_>>>()?;
    if names.len() > MAX_VARY_HEADERS {
        return Err(Status::Inval);
    }
    Ok(names)
}

/// The surrogate keys in `list` (separated by spaces): each printable
/// ASCII, at most 1 KiB.
pub(super) fn surrogate_keys(list: &str) -> CallResult<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    for k in list.split_ascii_whitespace() {
        if k.len() > MAX_SURROGATE_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Status::Inval);
        }
        if !keys.iter().any(|have| have == k) {
            keys.push(k.to_string());
        }
    }
    Ok(keys)
}

/// Opens a cache handle for `handle`, writing it at `out` (checked
/// before).
fn open(s: &mut FastlyState, m: &mut Memory<'_>, handle: CacheHandle, out: u32) -> CallResult {
    let h = s.items.insert(AsyncItem::Cache(handle))?;
    m.write_u32(out, h)
}

/// `(key, key_len, options_mask, options, handle_out)`: a lookup that
/// waits for no one.
pub(super) fn lookup(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let key = key(m, a.u32(0), a.u32(1))?;
    let headers = lookup_headers(s, m, a.u32(2), a.u32(3))?;
    m.check_u32(a.u32(4))?;
    let found = s.local.cache.lookup(&key, &headers);
    let handle = CacheHandle {
        key,
        headers,
        found,
        obligation: None,
        replace: false,
    };
    open(s, m, handle, a.u32(4))
}

/// Stores an object for `key` with `options` (its vary values from
/// `headers` unless the options name a request), giving the handle of
/// the body to write it through and the object.
fn store(
    s: &mut FastlyState,
    key: Bytes,
    options: WriteOptions,
    headers: &HeaderMap,
) -> CallResult<(u32, Found)> {
    let mut meta = options.meta;
    let rule = options.vary_rule.unwrap_or_default();
    meta.vary = match options.request {
        Some(h) => Vary::of(&rule, &request_headers(s, h)?),
        None => Vary::of(&rule, headers),
    };
    if s.items.is_full() {
        return Err(Status::Limitexceeded);
    }
    let writer = s.local.cache.insert(key, meta)?;
    let found = Found {
        object: writer.object().clone(),
        stale: false,
    };
    let h = s.new_cache_body(writer)?;
    Ok((h, found))
}

/// `(key, key_len, options_mask, options, body_out)`: stores an object
/// (not waiting for, nor released by, any transaction); its body is
/// written through the body handle given.
pub(super) fn insert(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let key = key(m, a.u32(0), a.u32(1))?;
    let options = write_options(m, a.u32(2), a.u32(3))?;
    m.check_u32(a.u32(4))?;
    let (body, _) = store(s, key, options, &HeaderMap::new())?;
    m.write_u32(a.u32(4), body)
}

/// Reads a transactional lookup's arguments: key, headers, out-pointer
/// checked.
fn transaction_args(
    s: &FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult<(Bytes, HeaderMap)> {
    let mut m = Memory(cx.memory());
    let key = key(&m, a.u32(0), a.u32(1))?;
    let headers = lookup_headers(s, &mut m, a.u32(2), a.u32(3))?;
    m.check_u32(a.u32(4))?;
    Ok((key, headers))
}

/// `(key, key_len, options_mask, options, handle_out)`: a lookup that
/// collapses with others of the key: it waits while another transaction
/// is to insert the object (unless a stale one can be served), or makes
/// its caller the one to insert it.
pub(super) fn transaction_lookup(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    let (key, headers) = transaction_args(s, cx, a)?;
    if s.items.is_full() {
        return Err(Status::Limitexceeded);
    }
    let cache = s.local.cache.clone();
    let mut busy = CacheBusy {
        key,
        headers,
        transaction: cache.transaction_id(),
        done: None,
    };
    let waker = s.run.waker.clone();
    wait_with(
        &waker,
        cx,
        std::future::poll_fn(|c| busy.poll_done(&cache, c)),
    )?;
    open(s, &mut Memory(cx.memory()), busy.into_handle(), a.u32(4))
}

/// `(key, key_len, options_mask, options, busy_out)`: as
/// `transaction_lookup`, not waiting: the busy handle is ready (to
/// `select`, `is_ready`) when the lookup is resolved.
pub(super) fn transaction_lookup_async(
    s: &mut FastlyState,
    cx: &mut dyn GuestCx,
    a: &Args<'_>,
) -> CallResult {
    let (key, headers) = transaction_args(s, cx, a)?;
    let cache = s.local.cache.clone();
    let busy = CacheBusy {
        key,
        headers,
        transaction: cache.transaction_id(),
        done: None,
    };
    let h = s.items.insert(AsyncItem::CacheBusy(busy))?;
    Memory(cx.memory()).write_u32(a.u32(4), h)
}

/// `(busy, handle_out)`: waits for the lookup of busy handle `busy`
/// (closing it) and gives its cache handle.
pub(super) fn busy_wait(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let (h, out) = (a.u32(0), a.u32(1));
    Memory(cx.memory()).check_u32(out)?;
    let AsyncItem::CacheBusy(_) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    let cache = s.local.cache.clone();
    let waker = s.run.waker.clone();
    let resolved = std::future::poll_fn(|c| match s.items.get_mut(h) {
        Ok(AsyncItem::CacheBusy(b)) => b.poll_done(&cache, c),
        _ => std::task::Poll::Ready(()),
    });
    wait_with(&waker, cx, resolved)?;
    let AsyncItem::CacheBusy(busy) = s.items.remove(h)? else {
        return Err(Status::Badf);
    };
    open(s, &mut Memory(cx.memory()), busy.into_handle(), out)
}

/// The key and headers of cache handle `h`, which must be to insert or
/// update (`badf` otherwise).
fn obliged(s: &FastlyState, h: u32) -> CallResult<(Bytes, HeaderMap)> {
    let c = s.cache_handle(h)?;
    if c.obligation.is_none() || c.replace {
        return Err(Status::Badf);
    }
    Ok((c.key.clone(), c.headers.clone()))
}

/// Inserts through transaction `h`: the body handle, and the object.
fn transaction_store(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult<(u32, Found)> {
    let h = a.u32(0);
    let options = write_options(m, a.u32(1), a.u32(2))?;
    if options.request.is_some() {
        // The transaction's request is the lookup's.
        return Err(Status::Inval);
    }
    let (key, headers) = obliged(s, h)?;
    let stored = store(s, key, options, &headers)?;
    // Stored: the lookups waiting for it go on.
    s.cache_handle_mut(h)?.obligation = None;
    Ok(stored)
}

/// `(h, options_mask, options, body_out)`.
pub(super) fn transaction_insert(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    m.check_u32(a.u32(3))?;
    let (body, _) = transaction_store(s, m, a)?;
    m.write_u32(a.u32(3), body)
}

/// `(h, options_mask, options, body_out, handle_out)`: inserts, and
/// gives a cache handle reading the object as it is written.
pub(super) fn transaction_insert_and_stream_back(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (body_out, handle_out) = (a.u32(3), a.u32(4));
    m.check_u32(body_out)?;
    m.check_u32(handle_out)?;
    let (key, headers) = obliged(s, a.u32(0))?;
    let (body, found) = transaction_store(s, m, a)?;
    let handle = CacheHandle {
        key,
        headers,
        found: Some(found),
        obligation: None,
        replace: false,
    };
    if let Err(e) = open(s, m, handle, handle_out) {
        let _ = s.items.remove(body);
        return Err(e);
    }
    m.write_u32(body_out, body)
}

/// `(h, options_mask, options)`: gives the found object new metadata
/// without changing its body.
pub(super) fn transaction_update(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let h = a.u32(0);
    let options = write_options(m, a.u32(1), a.u32(2))?;
    if options.request.is_some() {
        return Err(Status::Inval);
    }
    obliged(s, h)?;
    let c = s.cache_handle(h)?;
    let old = c.found.as_ref().ok_or(Status::Badf)?.object.clone();
    let mut meta = options.meta;
    meta.vary = match options.vary_rule {
        Some(rule) => Vary::of(&rule, &c.headers),
        None => old.meta.vary.clone(),
    };
    s.local.cache.update(&old, meta)?;
    s.cache_handle_mut(h)?.obligation = None;
    Ok(())
}

/// `(h)`: gives up the obligation to insert (the next waiting lookup
/// takes it on).
pub(super) fn transaction_cancel(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.cache_handle_mut(a.u32(0))?.obligation = None;
    Ok(())
}

/// `(busy)`.
pub(super) fn close_busy(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    let AsyncItem::CacheBusy(_) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    s.items.remove(h).map(drop)
}

/// `(h)`: a lookup or replace handle; an obligation it still has is
/// given up.
pub(super) fn close(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    s.cache_handle(h)?;
    s.items.remove(h).map(drop)
}

/// What handle `h` found: `none` if nothing.
fn found(s: &FastlyState, h: u32) -> CallResult<&Found> {
    s.cache_handle(h)?.found.as_ref().ok_or(Status::None)
}

/// `(h, state_out)`.
pub(super) fn get_state(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let c = s.cache_handle(a.u32(0))?;
    let mut state = 0;
    if let Some(f) = &c.found {
        state |= FOUND | USABLE;
        if f.stale {
            state |= STALE;
        }
    }
    if c.obligation.is_some() {
        state |= MUST_INSERT_OR_UPDATE;
    }
    m.write_u32(a.u32(1), state)
}

/// `(h, buf, buf_len, nwritten_out)`.
pub(super) fn get_user_metadata(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let f = found(s, a.u32(0))?;
    m.write_value(a.u32(1), a.u32(2), &f.object.meta.user_metadata, a.u32(3))
}

/// `(h, options_mask, options, body_out)`: a body reading the object (or
/// the range `from..=to` of it), as it is written if it still is. A range
/// outside a known length gives the whole object.
pub(super) fn get_body(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    const FROM: u32 = 1 << 1;
    const TO: u32 = 1 << 2;
    let (h, mask, options, out) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if mask & !(1 | FROM | TO) != 0 {
        return Err(Status::Inval);
    }
    let from = if mask & FROM != 0 {
        Some(m.read_u64(options)?)
    } else {
        None
    };
    let to = if mask & TO != 0 {
        Some(m.read_u64(options.checked_add(8).ok_or(Status::Inval)?)?)
    } else {
        None
    };
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(Status::Inval);
        }
    }
    m.check_u32(out)?;
    let object = found(s, h)?.object.clone();
    let beyond = |len: u64| from.is_some_and(|f| f >= len) || to.is_some_and(|t| t >= len);
    let (start, end) = match object.length() {
        Some(len) if beyond(len) => (0, None),
        _ => (from.unwrap_or(0), to.map(|t| t.saturating_add(1))),
    };
    let reader = CachedReader::new(object.body.clone(), start, end);
    let body = s.new_cached_body(reader)?;
    m.write_u32(out, body)
}

/// `(h, length_out)`: `none` when not known yet.
pub(super) fn get_length(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let len = found(s, a.u32(0))?.object.length().ok_or(Status::None)?;
    m.write_u64(a.u32(1), len)
}

/// `(h, ns_out)`.
pub(super) fn get_max_age_ns(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let v = found(s, a.u32(0))?.object.meta.max_age_ns;
    m.write_u64(a.u32(1), v)
}

/// `(h, ns_out)`.
pub(super) fn get_stale_while_revalidate_ns(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let v = found(s, a.u32(0))?.object.meta.swr_ns;
    m.write_u64(a.u32(1), v)
}

/// `(h, ns_out)`.
pub(super) fn get_age_ns(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let v = found(s, a.u32(0))?.object.age_ns(Instant::now());
    m.write_u64(a.u32(1), v)
}

/// `(h, hits_out)`.
pub(super) fn get_hits(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let v = found(s, a.u32(0))?.object.hits();
    m.write_u64(a.u32(1), v)
}

/// `(key, key_len, options_mask, options, handle_out)`: begins replacing
/// the object for `key`: the handle tells what is there (nothing, with the
/// force-miss strategy).
pub(super) fn replace(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    use replace_mask::*;
    let key = key(m, a.u32(0), a.u32(1))?;
    let (mask, options) = (a.u32(2), a.u32(3));
    check_mask(
        mask,
        RESERVED | REQUEST_HEADERS | REPLACE_STRATEGY | SERVICE | ALWAYS_USE_REQUESTED_RANGE,
        SERVICE,
    )?;
    let headers = if mask & REQUEST_HEADERS != 0 {
        request_headers(s, m.read_u32(options)?)?
    } else {
        HeaderMap::new()
    };
    let strategy = if mask & REPLACE_STRATEGY != 0 {
        let v = m.read_u32(options.checked_add(4).ok_or(Status::Inval)?)?;
        if !(1..=3).contains(&v) {
            return Err(Status::Inval);
        }
        v
    } else {
        1
    };
    m.check_u32(a.u32(4))?;
    let found = if strategy == IMMEDIATE_FORCE_MISS {
        None
    } else {
        s.local.cache.lookup(&key, &headers)
    };
    let handle = CacheHandle {
        key,
        headers,
        found,
        obligation: None,
        replace: true,
    };
    open(s, m, handle, a.u32(4))
}

/// `(h, options_mask, options, body_out)`: stores the replacement (closing
/// the replace handle); its body is written through the body handle.
pub(super) fn replace_insert(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    let options = write_options(m, a.u32(1), a.u32(2))?;
    m.check_u32(a.u32(3))?;
    let c = s.cache_handle(h)?;
    if !c.replace {
        return Err(Status::Badf);
    }
    let (key, headers) = (c.key.clone(), c.headers.clone());
    let (body, _) = store(s, key, options, &headers)?;
    let _ = s.items.remove(h);
    m.write_u32(a.u32(3), body)
}

/// `(key, key_len, options_mask, options)`: purges what has the surrogate
/// key, or (soft) makes it stale.
pub(super) fn purge_surrogate_key(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (ptr, len, mask) = (a.u32(0), a.u32(1), a.u32(2));
    if mask & !SOFT_PURGE != 0 {
        return Err(Status::Unsupported);
    }
    if len as usize > MAX_SURROGATE_KEY {
        return Err(Status::Inval);
    }
    let key = m.str(ptr, len)?;
    let purged = s.local.cache.purge(key, mask & SOFT_PURGE != 0);
    tracing::debug!(purged, "surrogate key purged");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogate_keys_are_split_bounded_and_printable() {
        assert_eq!(surrogate_keys(" a  b a\tc ").unwrap(), ["a", "b", "c"]);
        assert_eq!(surrogate_keys("ok bad\u{7f}"), Err(Status::Inval));
        let long = "k".repeat(MAX_SURROGATE_KEY + 1);
        assert_eq!(surrogate_keys(&long), Err(Status::Inval));
    }

    #[test]
    fn write_options_are_read_where_the_abi_puts_them() {
        use write_mask::*;
        let mut mem = vec![0u8; 256];
        let put = |mem: &mut Vec<u8>, at: usize, v: &[u8]| mem[at..at + v.len()].copy_from_slice(v);
        put(&mut mem, 0, &5_000u64.to_le_bytes());
        put(&mut mem, 24, &7u64.to_le_bytes());
        put(&mut mem, 32, &9u64.to_le_bytes());
        put(&mut mem, 40, &128u32.to_le_bytes());
        put(&mut mem, 44, &5u32.to_le_bytes());
        put(&mut mem, 48, &3u64.to_le_bytes());
        put(&mut mem, 56, &140u32.to_le_bytes());
        put(&mut mem, 60, &2u32.to_le_bytes());
        put(&mut mem, 128, b"k1 k2");
        put(&mut mem, 140, b"md");
        put(&mut mem, 12, &150u32.to_le_bytes());
        put(&mut mem, 16, &6u32.to_le_bytes());
        put(&mut mem, 150, b"accept");
        let mask = INITIAL_AGE_NS
            | STALE_WHILE_REVALIDATE_NS
            | SURROGATE_KEYS
            | LENGTH
            | USER_METADATA
            | VARY_RULE;
        let o = write_options(&mut Memory(&mut mem), mask, 0).unwrap();
        assert_eq!(o.meta.max_age_ns, 5_000);
        assert_eq!(o.meta.initial_age_ns, 7);
        assert_eq!(o.meta.swr_ns, 9);
        assert_eq!(o.meta.surrogate_keys, ["k1", "k2"]);
        assert_eq!(o.meta.length, Some(3));
        assert_eq!(&o.meta.user_metadata[..], b"md");
        assert_eq!(o.vary_rule.unwrap(), [HeaderName::from_static("accept")]);
        assert!(o.request.is_none());
        // Unknown bits are refused; another service's cache is not here.
        assert_eq!(
            write_options(&mut Memory(&mut mem), 1 << 11, 0).err(),
            Some(Status::Inval)
        );
        assert_eq!(
            write_options(&mut Memory(&mut mem), SERVICE, 0).err(),
            Some(Status::Unsupported)
        );
        // Sizes past their bounds are refused before anything is copied.
        put(&mut mem, 60, &(MAX_USER_METADATA + 1).to_le_bytes());
        assert_eq!(
            write_options(&mut Memory(&mut mem), USER_METADATA, 0).err(),
            Some(Status::Inval)
        );
        // A struct running off the end of memory is refused.
        assert_eq!(
            write_options(&mut Memory(&mut mem), LENGTH, 216).err(),
            Some(Status::Inval)
        );
    }
}
