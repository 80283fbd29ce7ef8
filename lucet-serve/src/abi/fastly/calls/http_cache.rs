//! The HTTP cache (`fastly_http_cache`): the readthrough cache that the
//! SDKs drive from the guest when an app sends a cacheable request. The
//! responses live in the same store as the core cache's objects (under
//! keys of their own), with their heads; the rules of what is stored and
//! for how long are `cache/http.rs`'s. With a `cache-size` of 0 the calls
//! are `unsupported`, and the SDKs send without caching.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, AGE, RANGE};
use hyper::{HeaderMap, Method, StatusCode, Version};

use super::super::cache::http::{self as rules, StorageAction};
use super::super::cache::{CachedReader, Found, HttpMeta, Meta, Object, Vary, HTTP_KEYS, MAX_KEY};
use super::super::memory::Memory;
use super::super::state::{AsyncItem, CacheBusy, FastlyState, HttpCacheHandle, RequestParts};
use super::super::status::{CallResult, Status};
use super::args::Args;
use super::cache::{
    check_mask, surrogate_keys, vary_rule, FOUND, MAX_SURROGATE_KEYS, MUST_INSERT_OR_UPDATE, STALE,
    USABLE, USABLE_IF_ERROR,
};
use super::wait::wait_with;
use crate::engine::GuestCx;

/// `http_cache_lookup_options_mask` (bit 0 reserved).
const OVERRIDE_KEY: u32 = 1 << 1;
const BACKEND_NAME: u32 = 1 << 2;

/// `http_cache_write_options_mask` (bit 0 reserved).
mod write_mask {
    pub const VARY_RULE: u32 = 1 << 1;
    pub const INITIAL_AGE_NS: u32 = 1 << 2;
    pub const STALE_WHILE_REVALIDATE_NS: u32 = 1 << 3;
    pub const SURROGATE_KEYS: u32 = 1 << 4;
    pub const LENGTH: u32 = 1 << 5;
    pub const SENSITIVE_DATA: u32 = 1 << 6;
    pub const STALE_IF_ERROR_NS: u32 = 1 << 7;
    pub const ALL: u32 = (1 << 8) - 1;
}

/// Where `http_cache_write_options`' fields are: max age 0, vary rule 8
/// and 12, initial age 16, stale-while-revalidate 24, surrogate keys 32
/// and 36, length 40, stale-if-error 48.
mod at {
    pub const VARY_PTR: u32 = 8;
    pub const VARY_LEN: u32 = 12;
    pub const INITIAL_AGE: u32 = 16;
    pub const SWR: u32 = 24;
    pub const KEYS_PTR: u32 = 32;
    pub const KEYS_LEN: u32 = 36;
    pub const LENGTH: u32 = 40;
    pub const IF_ERROR: u32 = 48;
}

fn field(options: u32, offset: u32) -> CallResult<u32> {
    options.checked_add(offset).ok_or(Status::Inval)
}

/// `(req, is_cacheable_out)`: `GET` and `HEAD` are.
pub(super) fn is_request_cacheable(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    if s.local.cache.capacity() == 0 {
        return Err(Status::Unsupported);
    }
    let cacheable = rules::is_cacheable_method(&s.requests.get(a.u32(0))?.method);
    m.write_u32(a.u32(1), u32::from(cacheable))
}

/// `(req, key_out, key_out_len, nwritten_out)`: the 32-byte key.
pub(super) fn get_suggested_cache_key(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let url = s.requests.get(a.u32(0))?.uri.to_string();
    let key = rules::suggested_key(&url);
    m.write_value(a.u32(1), a.u32(2), &key, a.u32(3))
}

/// The store key for `request`, or the override the lookup options give.
fn lookup_key(
    m: &mut Memory<'_>,
    request: &RequestParts,
    mask: u32,
    options: u32,
) -> CallResult<Bytes> {
    check_mask(mask, 1 | OVERRIDE_KEY | BACKEND_NAME, 0)?;
    let mut key = vec![HTTP_KEYS];
    if mask & OVERRIDE_KEY != 0 {
        let (ptr, len) = (m.read_u32(options)?, m.read_u32(field(options, 4)?)?);
        if len as usize > MAX_KEY {
            return Err(Status::Inval);
        }
        key.extend_from_slice(m.bytes(ptr, len)?);
    } else {
        key.extend_from_slice(&rules::suggested_key(&request.uri.to_string()));
    }
    if mask & BACKEND_NAME != 0 {
        // The backend the request will go to: checked, not needed here.
        let (ptr, len) = (
            m.read_u32(field(options, 8)?)?,
            m.read_u32(field(options, 12)?)?,
        );
        if len > 1024 {
            return Err(Status::Inval);
        }
        m.str(ptr, len)?;
    }
    Ok(Bytes::from(key))
}

/// Opens an HTTP cache handle, writing it at `out` (checked before).
fn open(s: &mut FastlyState, m: &mut Memory<'_>, handle: HttpCacheHandle, out: u32) -> CallResult {
    let h = s.items.insert(AsyncItem::HttpCache(Box::new(handle)))?;
    m.write_u32(out, h)
}

/// `(req, options_mask, options, handle_out)`: a lookup that waits for no
/// one (a record of uncacheability is nothing found).
pub(super) fn lookup(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let request = s.requests.get(a.u32(0))?.clone();
    let key = lookup_key(m, &request, a.u32(1), a.u32(2))?;
    m.check_u32(a.u32(3))?;
    let found = s
        .local
        .cache
        .lookup(&key, &request.headers)
        .filter(|f| !is_uncacheable(&f.object));
    let handle = HttpCacheHandle {
        request,
        pending: None,
        key,
        found,
        obligation: None,
        stored: None,
        usable_if_error: false,
    };
    open(s, m, handle, a.u32(3))
}

/// `(req, options_mask, options, handle_out)`: a lookup that collapses
/// with the others of its key; resolved when it is (`get_state` waits for
/// it, `select` and `is_ready` take it).
pub(super) fn transaction_lookup(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let request = s.requests.get(a.u32(0))?.clone();
    let key = lookup_key(m, &request, a.u32(1), a.u32(2))?;
    m.check_u32(a.u32(3))?;
    let cache = s.local.cache.clone();
    let handle = HttpCacheHandle {
        pending: Some(CacheBusy {
            key: key.clone(),
            headers: request.headers.clone(),
            transaction: cache.transaction_id(),
            done: None,
        }),
        request,
        key,
        found: None,
        obligation: None,
        stored: None,
        usable_if_error: false,
    };
    open(s, m, handle, a.u32(3))
}

fn is_uncacheable(o: &Object) -> bool {
    o.meta.http.as_ref().is_some_and(|h| h.uncacheable)
}

/// The response handle `h` found, if usable (not a record of
/// uncacheability).
fn usable(c: &HttpCacheHandle) -> Option<&Found> {
    c.found.as_ref().filter(|f| !is_uncacheable(&f.object))
}

/// `(h, state_out)`: waits until the lookup is resolved.
pub(super) fn get_state(s: &mut FastlyState, cx: &mut dyn GuestCx, a: &Args<'_>) -> CallResult {
    let (h, out) = (a.u32(0), a.u32(1));
    Memory(cx.memory()).check_u32(out)?;
    let AsyncItem::HttpCache(_) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    let cache = s.local.cache.clone();
    let waker = s.run.waker.clone();
    let resolved = std::future::poll_fn(|c| match s.items.get_mut(h) {
        Ok(AsyncItem::HttpCache(handle)) => handle.poll_resolved(&cache, c),
        _ => std::task::Poll::Ready(()),
    });
    wait_with(&waker, cx, resolved)?;
    let c = s.http_cache(h)?;
    let mut state = 0;
    if let Some(f) = usable(c) {
        state |= FOUND | USABLE;
        if f.stale {
            state |= STALE;
        }
    }
    if c.obligation.is_some() {
        state |= MUST_INSERT_OR_UPDATE;
        if c.usable_if_error {
            state |= USABLE_IF_ERROR;
        }
    }
    Memory(cx.memory()).write_u32(out, state)
}

/// A new response handle with `head`.
fn new_response(s: &mut FastlyState, meta: &HttpMeta, age: Option<u64>) -> CallResult<u32> {
    let mut headers = meta.headers.clone();
    if let Some(age) = age {
        headers.insert(AGE, HeaderValue::from(age));
    }
    s.responses.insert(super::super::state::ResponseParts {
        status: meta.status,
        version: meta.version,
        headers,
        remote: None,
    })
}

/// `(h, transform_for_client, resp_out, body_out)`: the stored response
/// (with its `Age`, for the client) and a body reading it; `none` if
/// nothing usable was found.
pub(super) fn get_found_response(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (h, transform, resp_out, body_out) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    m.check_u32(resp_out)?;
    m.check_u32(body_out)?;
    let object = usable(s.http_cache(h)?).ok_or(Status::None)?.object.clone();
    let meta = object.meta.http.clone().ok_or(Status::None)?;
    if s.items.is_full() {
        return Err(Status::Limitexceeded);
    }
    let age = (transform != 0).then(|| object.age_ns(Instant::now()) / 1_000_000_000);
    let resp = new_response(s, &meta, age)?;
    let body = match s.new_cached_body(CachedReader::new(object.body.clone(), 0, None)) {
        Ok(b) => b,
        Err(e) => {
            let _ = s.responses.remove(resp);
            return Err(e);
        }
    };
    m.write_u32(resp_out, resp)?;
    m.write_u32(body_out, body)
}

/// `(h, req_out)`: the request to send to fill the cache: the one looked
/// up, whole (not ranged) and as a `GET`, asking conditionally for what a
/// stale stored response has.
pub(super) fn get_suggested_backend_request(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let out = a.u32(1);
    m.check_u32(out)?;
    let c = s.http_cache(a.u32(0))?;
    let mut req = c.request.clone();
    if req.method == Method::HEAD {
        req.method = Method::GET;
    }
    req.headers.remove(RANGE);
    let stale = usable(c)
        .map(|f| f.object.clone())
        .or_else(|| c.stored.clone());
    if let Some(meta) = stale.and_then(|o| o.meta.http.clone()) {
        for (name, value) in rules::conditions(&meta.headers) {
            req.headers.insert(name, value);
        }
    }
    let h = s.requests.insert(req)?;
    m.write_u32(out, h)
}

/// Whether `h` has a stored response that a `304` would revalidate.
fn revalidating(c: &HttpCacheHandle) -> Option<Arc<Object>> {
    usable(c)
        .map(|f| f.object.clone())
        .or_else(|| c.stored.clone())
}

/// `(h, options_mask, options, options_mask_out, options_out)` for
/// response `resp`: what its headers suggest (`buflen` when a guest buffer
/// is too small, with the lengths needed written).
pub(super) fn get_suggested_cache_options(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    use write_mask::*;
    let (h, resp, mask, options, mask_out, out) =
        (a.u32(0), a.u32(1), a.u32(2), a.u32(3), a.u32(4), a.u32(5));
    s.http_cache(h)?;
    let headers = s.responses.get(resp)?.headers.clone();
    let suggested = rules::suggested(&headers, SystemTime::now());
    m.aligned_check(out, 8)?;
    m.bytes_mut(out, 56)?;
    m.check_u32(mask_out)?;
    let mut given = INITIAL_AGE_NS | STALE_WHILE_REVALIDATE_NS | STALE_IF_ERROR_NS;
    let mut short = false;
    // A text option, written into the guest's buffer if it fits.
    let mut text = |m: &mut Memory<'_>, bit: u32, ptr_at: u32, len_at: u32, value: &str| {
        if mask & bit == 0 {
            return Ok::<(), Status>(());
        }
        given |= bit;
        let (ptr, cap) = (
            m.read_u32(field(options, ptr_at)?)?,
            m.read_u32(field(options, len_at)?)?,
        );
        let len = value.len() as u32;
        if len > cap {
            short = true;
        } else {
            m.write(ptr, value.as_bytes())?;
        }
        m.write_u32(field(out, ptr_at)?, ptr)?;
        m.write_u32(field(out, len_at)?, len)
    };
    text(
        m,
        VARY_RULE,
        at::VARY_PTR,
        at::VARY_LEN,
        &suggested.vary_rule,
    )?;
    text(m, SURROGATE_KEYS, at::KEYS_PTR, at::KEYS_LEN, "")?;
    m.write_u64(out, suggested.max_age_ns)?;
    m.write_u64(field(out, at::INITIAL_AGE)?, suggested.initial_age_ns)?;
    m.write_u64(field(out, at::SWR)?, suggested.swr_ns)?;
    m.write_u64(field(out, at::IF_ERROR)?, suggested.stale_if_error_ns)?;
    if let Some(len) = suggested.length.filter(|_| mask & LENGTH != 0) {
        given |= LENGTH;
        m.write_u64(field(out, at::LENGTH)?, len)?;
    }
    m.write_u32(mask_out, given & mask)?;
    if short {
        return Err(Status::Buflen);
    }
    Ok(())
}

/// `(h, resp, storage_action_out, resp_out)`: what to do with response
/// `resp` for the cache, and the response to store, as a new handle (the
/// guest closes `resp`): a copy, or for a `304` that revalidates a stored
/// response, that response refreshed.
pub(super) fn prepare_response_for_storage(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (h, resp, action_out, resp_out) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    m.check_u32(action_out)?;
    m.check_u32(resp_out)?;
    let stored = revalidating(s.http_cache(h)?);
    let parts = s.responses.get(resp)?.clone();
    let action = rules::storage_action(parts.status, &parts.headers, stored.is_some());
    let out = if action == StorageAction::Update {
        let meta = stored
            .and_then(|o| o.meta.http.clone())
            .ok_or(Status::Error)?;
        let refreshed = HttpMeta {
            headers: rules::revalidated(&meta.headers, &parts.headers),
            ..(*meta).clone()
        };
        new_response(s, &refreshed, None)?
    } else {
        s.responses.insert(parts)?
    };
    m.write_u32(action_out, action as u32)?;
    m.write_u32(resp_out, out)
}

/// What write options say.
struct WriteOptions {
    max_age_ns: u64,
    vary_rule: Vec<HeaderName>,
    initial_age_ns: u64,
    swr_ns: u64,
    surrogate_keys: Vec<String>,
    length: Option<u64>,
    sensitive: bool,
    stale_if_error_ns: u64,
}

/// Reads the write options at `options` that `mask` says are there.
fn write_options(m: &mut Memory<'_>, mask: u32, options: u32) -> CallResult<WriteOptions> {
    use write_mask::*;
    check_mask(mask, ALL, 0)?;
    let read = |m: &mut Memory<'_>, bit: u32, offset: u32| -> CallResult<u64> {
        if mask & bit == 0 {
            return Ok(0);
        }
        m.read_u64(field(options, offset)?)
    };
    let vary = if mask & VARY_RULE != 0 {
        let (ptr, len) = (
            m.read_u32(field(options, at::VARY_PTR)?)?,
            m.read_u32(field(options, at::VARY_LEN)?)?,
        );
        vary_rule(m, ptr, len)?
    } else {
        Vec::new()
    };
    let keys = if mask & SURROGATE_KEYS != 0 {
        let (ptr, len) = (
            m.read_u32(field(options, at::KEYS_PTR)?)?,
            m.read_u32(field(options, at::KEYS_LEN)?)?,
        );
        if len > MAX_SURROGATE_KEYS {
            return Err(Status::Inval);
        }
        surrogate_keys(m.str(ptr, len)?)?
    } else {
        Vec::new()
    };
    Ok(WriteOptions {
        max_age_ns: m.read_u64(options)?,
        vary_rule: vary,
        initial_age_ns: read(m, INITIAL_AGE_NS, at::INITIAL_AGE)?,
        swr_ns: read(m, STALE_WHILE_REVALIDATE_NS, at::SWR)?,
        surrogate_keys: keys,
        length: (mask & LENGTH != 0)
            .then(|| m.read_u64(field(options, at::LENGTH)?))
            .transpose()?,
        sensitive: mask & SENSITIVE_DATA != 0,
        stale_if_error_ns: read(m, STALE_IF_ERROR_NS, at::IF_ERROR)?,
    })
}

/// The metadata of a response with head `head` stored under `options`
/// for a request with `headers`.
fn meta_of(
    options: WriteOptions,
    head: (StatusCode, Version, HeaderMap),
    headers: &HeaderMap,
    uncacheable: bool,
) -> Meta {
    let (status, version, response_headers) = head;
    Meta {
        max_age_ns: options.max_age_ns,
        swr_ns: options.swr_ns,
        initial_age_ns: options.initial_age_ns,
        length: options.length,
        user_metadata: Bytes::new(),
        surrogate_keys: options.surrogate_keys,
        vary: Vary::of(&options.vary_rule, headers),
        http: Some(Arc::new(HttpMeta {
            status,
            version,
            headers: response_headers,
            stale_if_error_ns: options.stale_if_error_ns,
            sensitive: options.sensitive,
            uncacheable,
        })),
    }
}

/// Handle `h`'s key and request headers, if it is to insert or update.
fn obliged(s: &mut FastlyState, h: u32) -> CallResult<(Bytes, HeaderMap)> {
    let c = s.http_cache(h)?;
    if c.obligation.is_none() {
        return Err(Status::Badf);
    }
    Ok((c.key.clone(), c.request.headers.clone()))
}

/// Stores response `resp` (closing it) through transaction `h`: the body
/// handle to write it through, and the object.
fn insert(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult<(u32, Arc<Object>)> {
    let (h, resp, mask, options) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    let options = write_options(m, mask, options)?;
    let (key, headers) = obliged(s, h)?;
    let parts = s.responses.get(resp)?;
    let head = (parts.status, parts.version, parts.headers.clone());
    if s.items.is_full() {
        return Err(Status::Limitexceeded);
    }
    let meta = meta_of(options, head, &headers, false);
    let writer = s.local.cache.insert(key, meta)?;
    let object = writer.object().clone();
    let body = s.new_cache_body(writer)?;
    let _ = s.responses.remove(resp);
    s.http_cache(h)?.obligation = None;
    Ok((body, object))
}

/// `(h, resp, options_mask, options, body_out)`.
pub(super) fn transaction_insert(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    m.check_u32(a.u32(4))?;
    let (body, _) = insert(s, m, a)?;
    m.write_u32(a.u32(4), body)
}

/// A resolved handle for `object`, found fresh.
fn readback(s: &mut FastlyState, h: u32, object: Arc<Object>) -> CallResult<HttpCacheHandle> {
    let c = s.http_cache(h)?;
    Ok(HttpCacheHandle {
        request: c.request.clone(),
        pending: None,
        key: c.key.clone(),
        found: Some(Found {
            object,
            stale: false,
        }),
        obligation: None,
        stored: None,
        usable_if_error: false,
    })
}

/// `(h, resp, options_mask, options, body_out, handle_out)`: inserts, and
/// gives a handle reading the response back as it is written.
pub(super) fn transaction_insert_and_stream_back(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (body_out, handle_out) = (a.u32(4), a.u32(5));
    m.check_u32(body_out)?;
    m.check_u32(handle_out)?;
    let (body, object) = insert(s, m, a)?;
    let back = readback(s, a.u32(0), object)?;
    if let Err(e) = open(s, m, back, handle_out) {
        let _ = s.items.remove(body);
        return Err(e);
    }
    m.write_u32(body_out, body)
}

/// Refreshes the stored response with response `resp`'s head (closing
/// it) and `options`, through transaction `h`: the refreshed object.
fn update(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult<Arc<Object>> {
    let (h, resp, mask, options) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    let options = write_options(m, mask, options)?;
    let (_, headers) = obliged(s, h)?;
    let old = revalidating(s.http_cache(h)?).ok_or(Status::Badf)?;
    let parts = s.responses.get(resp)?;
    let head = (parts.status, parts.version, parts.headers.clone());
    let meta = meta_of(options, head, &headers, false);
    let object = s.local.cache.update(&old, meta)?;
    let _ = s.responses.remove(resp);
    s.http_cache(h)?.obligation = None;
    Ok(object)
}

/// `(h, resp, options_mask, options)`.
pub(super) fn transaction_update(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    update(s, m, a).map(drop)
}

/// `(h, resp, options_mask, options, handle_out)`: updates, and gives a
/// handle to the refreshed response.
pub(super) fn transaction_update_and_return_fresh(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    m.check_u32(a.u32(4))?;
    if s.items.is_full() {
        return Err(Status::Limitexceeded);
    }
    let object = update(s, m, a)?;
    let back = readback(s, a.u32(0), object)?;
    open(s, m, back, a.u32(4))
}

/// `(h, options_mask, options)`: records that responses for the request
/// are not cacheable, for the options' max age (a hit-for-pass): lookups
/// that find the record go to the backend without collapsing.
pub(super) fn transaction_record_not_cacheable(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let (h, mask, options) = (a.u32(0), a.u32(1), a.u32(2));
    let options = write_options(m, mask, options)?;
    let (key, headers) = obliged(s, h)?;
    let head = (StatusCode::OK, Version::HTTP_11, HeaderMap::new());
    let meta = Meta {
        swr_ns: 0,
        ..meta_of(options, head, &headers, true)
    };
    s.local.cache.insert(key, meta)?.finish()?;
    s.http_cache(h)?.obligation = None;
    Ok(())
}

/// `(h)`: gives the obligation up (a waiting lookup takes it on).
pub(super) fn transaction_abandon(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    s.http_cache(a.u32(0))?.obligation = None;
    Ok(())
}

/// `(h)`: revalidating failed: the stale-if-error response is the answer
/// (the stored state does not change).
pub(super) fn transaction_choose_stale(
    s: &mut FastlyState,
    _: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let c = s.http_cache(a.u32(0))?;
    if c.obligation.is_none() {
        return Err(Status::Badf);
    }
    if !c.usable_if_error {
        return Err(Status::Badf);
    }
    let stale = c.stored.take().ok_or(Status::Badf)?;
    c.found = Some(Found {
        object: stale,
        stale: true,
    });
    c.obligation = None;
    Ok(())
}

/// `(h)`.
pub(super) fn close(s: &mut FastlyState, _: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let h = a.u32(0);
    let AsyncItem::HttpCache(_) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    s.items.remove(h).map(drop)
}

/// The usable object handle `h` found: `none` if nothing.
fn found_object(s: &mut FastlyState, h: u32) -> CallResult<Arc<Object>> {
    Ok(usable(s.http_cache(h)?).ok_or(Status::None)?.object.clone())
}

/// `(h, out)`: a number about the found response.
fn number(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
    of: impl Fn(&Object) -> Option<u64>,
) -> CallResult {
    let o = found_object(s, a.u32(0))?;
    let v = of(&o).ok_or(Status::None)?;
    m.write_u64(a.u32(1), v)
}

pub(super) fn get_length(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    number(s, m, a, Object::length)
}

pub(super) fn get_max_age_ns(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    number(s, m, a, |o| Some(o.meta.max_age_ns))
}

pub(super) fn get_stale_while_revalidate_ns(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    number(s, m, a, |o| Some(o.meta.swr_ns))
}

pub(super) fn get_stale_if_error_ns(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    number(s, m, a, |o| {
        o.meta.http.as_ref().map(|h| h.stale_if_error_ns)
    })
}

pub(super) fn get_age_ns(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    number(s, m, a, |o| Some(o.age_ns(Instant::now())))
}

pub(super) fn get_hits(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    number(s, m, a, |o| Some(o.hits()))
}

/// `(h, is_sensitive_out)`.
pub(super) fn get_sensitive_data(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let o = found_object(s, a.u32(0))?;
    let sensitive = o.meta.http.as_ref().is_some_and(|h| h.sensitive);
    m.write_u32(a.u32(1), u32::from(sensitive))
}

/// `(h, buf, buf_len, nwritten_out)`.
pub(super) fn get_surrogate_keys(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
) -> CallResult {
    let o = found_object(s, a.u32(0))?;
    let keys = o.meta.surrogate_keys.join(" ");
    m.write_value(a.u32(1), a.u32(2), keys.as_bytes(), a.u32(3))
}

/// `(h, buf, buf_len, nwritten_out)`.
pub(super) fn get_vary_rule(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let o = found_object(s, a.u32(0))?;
    let rule = o
        .meta
        .vary
        .names()
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    m.write_value(a.u32(1), a.u32(2), rule.as_bytes(), a.u32(3))
}
