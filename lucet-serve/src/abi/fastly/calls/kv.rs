//! KV stores (`fastly_kv_store`): each operation is started by one call and
//! its outcome taken by a `_wait` call; here the outcome is in at once,
//! so the pending handle (an async item) is ready when made.

use std::time::Duration;

use bytes::Bytes;

use super::super::kv::{InsertMode, KvError, MAX_KEY, MAX_LIST, MAX_METADATA};
use super::super::memory::Memory;
use super::super::state::{AsyncItem, FastlyState, KvOutcome, INVALID_HANDLE};
use super::super::status::{CallResult, Status};
use super::args::Args;

/// Insert option bits (`kv_insert_config_options`).
const INSERT_METADATA: u32 = 1 << 3;
const INSERT_TTL: u32 = 1 << 4;
const INSERT_IF_GENERATION_MATCH: u32 = 1 << 5;
/// List option bits (`kv_list_config_options`).
const LIST_CURSOR: u32 = 1 << 1;
const LIST_LIMIT: u32 = 1 << 2;
const LIST_PREFIX: u32 = 1 << 3;
/// Size of `kv_insert_config` and of `kv_list_config`.
const INSERT_CONFIG: u32 = 32;
const LIST_CONFIG: u32 = 24;

/// The key at arguments `i`, `i + 1`.
fn key_at<'m>(m: &'m Memory<'_>, a: &Args<'_>, i: usize) -> CallResult<&'m str> {
    if a.u32(i + 1) as usize > MAX_KEY {
        return Err(Status::Inval);
    }
    m.str(a.u32(i), a.u32(i + 1))
}

/// Makes an async item of `outcome`, its handle written at `out`.
fn pending(s: &mut FastlyState, m: &mut Memory<'_>, outcome: KvOutcome, out: u32) -> CallResult {
    m.check_u32(out)?;
    let h = s.items.insert(AsyncItem::Kv(outcome))?;
    m.write_u32(out, h)
}

/// `(name, name_len, store_out)`: `inval` for a store the app's
/// configuration does not have (the SDKs read it as "not found").
pub(super) fn open(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let name = m.str(a.u32(0), a.u32(1))?;
    let store = s.local.kv_stores.get(name).cloned().ok_or(Status::Inval)?;
    m.check_u32(a.u32(2))?;
    let h = s.kv_stores.insert(store)?;
    m.write_u32(a.u32(2), h)
}

/// `(store, key, key_len, mask, config, lookup_out)`.
pub(super) fn lookup(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let store = s.kv_stores.get(a.u32(0))?.clone();
    let outcome = KvOutcome::Lookup(store.lookup(key_at(m, a, 1)?));
    pending(s, m, outcome, a.u32(5))
}

/// `(h, body_out, metadata, metadata_len, nwritten_out, generation_out,
/// kv_error_out)`, the generation a `u32` (`lookup_wait`) or a `u64`
/// (`lookup_wait_v2`).
fn lookup_wait_with(
    s: &mut FastlyState,
    m: &mut Memory<'_>,
    a: &Args<'_>,
    wide_generation: bool,
) -> CallResult {
    let (h, body_out, meta, meta_len, nwritten, gen_out, error_out) = (
        a.u32(0),
        a.u32(1),
        a.u32(2),
        a.u32(3),
        a.u32(4),
        a.u32(5),
        a.u32(6),
    );
    for p in [body_out, nwritten, error_out] {
        m.check_u32(p)?;
    }
    if wide_generation {
        m.aligned_check(gen_out, 8)?;
    } else {
        m.check_u32(gen_out)?;
    }
    let AsyncItem::Kv(KvOutcome::Lookup(outcome)) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    // A metadata buffer too small leaves the outcome to be taken again.
    if let Ok(item) = outcome {
        if item.metadata.len() > meta_len as usize {
            m.write_u32(nwritten, item.metadata.len() as u32)?;
            return Err(Status::Buflen);
        }
    }
    let Ok(AsyncItem::Kv(KvOutcome::Lookup(outcome))) = s.items.remove(h) else {
        return Err(Status::Badf);
    };
    match outcome {
        Ok(item) => {
            let body = s.new_body()?;
            if let Err(e) = s.write_body(body, &item.value, false) {
                let _ = s.take_body(body);
                return Err(e);
            }
            m.write(meta, &item.metadata)?;
            m.write_u32(nwritten, item.metadata.len() as u32)?;
            if wide_generation {
                m.write_u64(gen_out, item.generation)?;
            } else {
                m.write_u32(gen_out, item.generation as u32)?;
            }
            m.write_u32(body_out, body)?;
            m.write_u32(error_out, KvError::Ok as u32)
        }
        Err(e) => {
            m.write_u32(body_out, INVALID_HANDLE)?;
            m.write_u32(nwritten, 0)?;
            m.write_u32(error_out, e as u32)
        }
    }
}

pub(super) fn lookup_wait(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    lookup_wait_with(s, m, a, false)
}

pub(super) fn lookup_wait_v2(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    lookup_wait_with(s, m, a, true)
}

/// `(store, key, key_len, body, mask, config, insert_out)`: the body is
/// closed, its bytes the value.
pub(super) fn insert(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let store = s.kv_stores.get(a.u32(0))?.clone();
    let key = key_at(m, a, 1)?.to_string();
    let (body, mask, config, out) = (a.u32(3), a.u32(4), a.u32(5), a.u32(6));
    m.check_u32(out)?;
    let mut insert = super::super::kv::Insert::default();
    if config != 0 {
        m.bytes(config, INSERT_CONFIG)?;
        m.check_u32(config)?;
        let word = |m: &mut Memory<'_>, at: u32| m.read_u32(config + at);
        insert.mode = Some(match word(m, 0)? {
            0 => InsertMode::Overwrite,
            1 => InsertMode::Add,
            2 => InsertMode::Append,
            3 => InsertMode::Prepend,
            _ => return Err(Status::Inval),
        });
        if mask & INSERT_METADATA != 0 {
            let (ptr, len) = (word(m, 8)?, word(m, 12)?);
            if len as usize > MAX_METADATA {
                return Err(Status::Inval);
            }
            insert.metadata = Some(Bytes::copy_from_slice(m.bytes(ptr, len)?));
        }
        if mask & INSERT_TTL != 0 {
            insert.ttl = Some(Duration::from_secs(u64::from(word(m, 16)?)));
        }
        if mask & INSERT_IF_GENERATION_MATCH != 0 {
            let lo = u64::from(word(m, 24)?);
            let hi = u64::from(word(m, 28)?);
            insert.if_generation_match = Some(hi << 32 | lo);
        }
    }
    let value = s.take_body_bytes(body)?;
    let outcome = KvOutcome::Done(store.insert(&key, value, insert));
    pending(s, m, outcome, out)
}

/// `(store, key, key_len, mask, config, delete_out)`.
pub(super) fn delete(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let store = s.kv_stores.get(a.u32(0))?.clone();
    let outcome = KvOutcome::Done(store.delete(key_at(m, a, 1)?));
    pending(s, m, outcome, a.u32(5))
}

/// `(h, kv_error_out)`: the outcome of an insert or delete.
pub(super) fn done_wait(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (h, error_out) = (a.u32(0), a.u32(1));
    m.check_u32(error_out)?;
    let AsyncItem::Kv(KvOutcome::Done(_)) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    let Ok(AsyncItem::Kv(KvOutcome::Done(outcome))) = s.items.remove(h) else {
        return Err(Status::Badf);
    };
    let e = match outcome {
        Ok(()) => KvError::Ok,
        Err(e) => e,
    };
    m.write_u32(error_out, e as u32)
}

/// The text of `len` bytes at `ptr` (at most a key's length).
fn text(m: &Memory<'_>, ptr: u32, len: u32) -> CallResult<String> {
    if len as usize > MAX_KEY {
        return Err(Status::Inval);
    }
    Ok(m.str(ptr, len)?.to_string())
}

/// `(store, mask, config, list_out)`.
pub(super) fn list(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let store = s.kv_stores.get(a.u32(0))?.clone();
    let (mask, config, out) = (a.u32(1), a.u32(2), a.u32(3));
    let (mut cursor, mut limit, mut prefix) = (None, MAX_LIST as u32, String::new());
    if config != 0 {
        m.bytes(config, LIST_CONFIG)?;
        m.check_u32(config)?;
        let word = |m: &mut Memory<'_>, at: u32| m.read_u32(config + at);
        if mask & LIST_CURSOR != 0 {
            let (p, l) = (word(m, 4)?, word(m, 8)?);
            cursor = Some(text(m, p, l)?);
        }
        if mask & LIST_LIMIT != 0 {
            limit = word(m, 12)?;
        }
        if mask & LIST_PREFIX != 0 {
            let (p, l) = (word(m, 16)?, word(m, 20)?);
            prefix = text(m, p, l)?;
        }
    }
    // The cursor is the last key of the page before, hex-encoded.
    let after = match cursor.as_deref().map(unhex) {
        Some(None) => return pending(s, m, KvOutcome::List(Err(KvError::BadRequest)), out),
        Some(Some(k)) => Some(k),
        None => None,
    };
    let page = store.list(&prefix, after.as_deref(), limit as usize);
    let json = serde_json::json!({
        "data": page.keys,
        "meta": {
            "limit": limit.min(MAX_LIST as u32),
            "next_cursor": page.next.as_deref().map(hex),
            "prefix": (!prefix.is_empty()).then_some(prefix),
            "consistency": null,
        }
    });
    pending(
        s,
        m,
        KvOutcome::List(Ok(Bytes::from(json.to_string()))),
        out,
    )
}

/// `(h, body_out, kv_error_out)`: the page, as JSON.
pub(super) fn list_wait(s: &mut FastlyState, m: &mut Memory<'_>, a: &Args<'_>) -> CallResult {
    let (h, body_out, error_out) = (a.u32(0), a.u32(1), a.u32(2));
    m.check_u32(body_out)?;
    m.check_u32(error_out)?;
    let AsyncItem::Kv(KvOutcome::List(_)) = s.items.get(h)? else {
        return Err(Status::Badf);
    };
    let Ok(AsyncItem::Kv(KvOutcome::List(outcome))) = s.items.remove(h) else {
        return Err(Status::Badf);
    };
    match outcome {
        Ok(json) => {
            let body = s.new_body()?;
            s.write_body(body, &json, false)?;
            m.write_u32(body_out, body)?;
            m.write_u32(error_out, KvError::Ok as u32)
        }
        Err(e) => {
            m.write_u32(body_out, INVALID_HANDLE)?;
            m.write_u32(error_out, e as u32)
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if s.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}
