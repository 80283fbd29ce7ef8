//! KV stores, in process: the stores named in the app's `fastly.toml`
//! (`[local_server.kv_stores]`), with what they start with, changed by
//! the app's inserts and deletes and shared by its instances (a reload
//! starts them afresh). Items have generations, metadata and an optional
//! time to live. Bounded: key and metadata lengths (Fastly's), items and
//! bytes per store.
//!
//! ```toml
//! [local_server.kv_stores]
//! store = [{ key = "a", data = "1", metadata = "m" }, { key = "b", file = "b.bin" }]
//! other = { format = "json", file = "kv.json" }   # {"key": "value" or {"data": ..., "metadata": ...}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::files::read_bounded;

/// Longest key (Fastly's limit).
pub(crate) const MAX_KEY: usize = 1024;
/// Longest metadata (Fastly's limit).
pub(crate) const MAX_METADATA: usize = 2000;
/// Most items in one store.
const MAX_ITEMS: usize = 100_000;
/// Most bytes of values in one store.
const MAX_BYTES: u64 = 256 << 20;
/// Largest file read for a store.
const MAX_FILE: u64 = 64 << 20;
/// Most keys one list returns.
pub(crate) const MAX_LIST: usize = 1000;

/// The ABI's `kv_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum KvError {
    Ok = 1,
    BadRequest = 2,
    NotFound = 3,
    PreconditionFailed = 4,
    PayloadTooLarge = 5,
}

/// One item.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub value: Bytes,
    pub metadata: Bytes,
    pub generation: u64,
    expires: Option<Instant>,
}

/// How an insert treats an item that is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertMode {
    Overwrite,
    Add,
    Append,
    Prepend,
}

/// An insert's options.
#[derive(Debug, Default)]
pub(crate) struct Insert {
    pub mode: Option<InsertMode>,
    pub metadata: Option<Bytes>,
    pub ttl: Option<Duration>,
    pub if_generation_match: Option<u64>,
}

/// A page of keys: the keys, and where the next page starts.
#[derive(Debug)]
pub(crate) struct Page {
    pub keys: Vec<String>,
    pub next: Option<String>,
}

/// One store.
#[derive(Debug, Default)]
pub(crate) struct KvStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    items: BTreeMap<String, Item>,
    bytes: u64,
    next_generation: u64,
}

impl State {
    /// Drops `key` if its time to live has passed.
    fn expire(&mut self, key: &str) {
        let gone = self
            .items
            .get(key)
            .is_some_and(|i| i.expires.is_some_and(|e| e <= Instant::now()));
        if gone {
            if let Some(i) = self.items.remove(key) {
                self.bytes -= i.value.len() as u64;
            }
        }
    }
}

/// Whether `key` is a key Fastly accepts.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key != "."
        && key != ".."
        && !key.starts_with(".well-known/acme-challenge/")
        && !key.contains(['\r', '\n', '#', '?', '*', '[', ']'])
}

impl KvStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The item at `key`.
    pub fn lookup(&self, key: &str) -> Result<Item, KvError> {
        if !valid_key(key) {
            return Err(KvError::BadRequest);
        }
        let mut s = self.lock();
        s.expire(key);
        s.items.get(key).cloned().ok_or(KvError::NotFound)
    }

    /// Stores `value` at `key` as `insert` says.
    pub fn insert(&self, key: &str, value: Bytes, insert: Insert) -> Result<(), KvError> {
        if !valid_key(key) {
            return Err(KvError::BadRequest);
        }
        if insert
            .metadata
            .as_ref()
            .is_some_and(|m| m.len() > MAX_METADATA)
        {
            return Err(KvError::BadRequest);
        }
        let mut s = self.lock();
        s.expire(key);
        let old = s.items.get(key);
        if let Some(want) = insert.if_generation_match {
            if old.map(|i| i.generation) != Some(want) {
                return Err(KvError::PreconditionFailed);
            }
        }
        let mode = insert.mode.unwrap_or(InsertMode::Overwrite);
        let value = match (mode, old) {
            (InsertMode::Add, Some(_)) => return Err(KvError::PreconditionFailed),
            (InsertMode::Append, Some(o)) => concat(&o.value, &value),
            (InsertMode::Prepend, Some(o)) => concat(&value, &o.value),
            _ => value,
        };
        let old_len = old.map_or(0, |i| i.value.len() as u64);
        let old_meta = old.map(|i| i.metadata.clone());
        if old.is_none() && s.items.len() >= MAX_ITEMS {
            return Err(KvError::PayloadTooLarge);
        }
        if s.bytes - old_len + value.len() as u64 > MAX_BYTES {
            return Err(KvError::PayloadTooLarge);
        }
        s.next_generation += 1;
        let item = Item {
            metadata: insert.metadata.or(old_meta).unwrap_or_default(),
            generation: s.next_generation,
            expires: insert.ttl.map(|t| Instant::now() + t),
            value,
        };
        s.bytes = s.bytes - old_len + item.value.len() as u64;
        s.items.insert(key.to_string(), item);
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        if !valid_key(key) {
            return Err(KvError::BadRequest);
        }
        let mut s = self.lock();
        s.expire(key);
        let item = s.items.remove(key).ok_or(KvError::NotFound)?;
        s.bytes -= item.value.len() as u64;
        Ok(())
    }

    /// Up to `limit` keys starting with `prefix`, after the key `cursor`
    /// names, in order.
    pub fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Page {
        let s = self.lock();
        let now = Instant::now();
        let limit = limit.clamp(1, MAX_LIST);
        let start = cursor.unwrap_or(prefix).to_string();
        let mut keys = Vec::new();
        let mut more = false;
        for (k, item) in s.items.range(start..) {
            if !k.starts_with(prefix) {
                break;
            }
            if cursor == Some(k.as_str()) || item.expires.is_some_and(|e| e <= now) {
                continue;
            }
            if keys.len() == limit {
                more = true;
                break;
            }
            keys.push(k.clone());
        }
        let next = more.then(|| keys.last().cloned()).flatten();
        Page { keys, next }
    }

    /// A store holding `entries` (key, value, metadata).
    fn with(entries: Vec<(String, Bytes, Bytes)>) -> Result<KvStore, String> {
        let store = KvStore::default();
        for (key, value, metadata) in entries {
            let shown = lucet_module::escape_control(&key);
            let insert = Insert {
                metadata: Some(metadata),
                ..Insert::default()
            };
            store
                .insert(&key, value, insert)
                .map_err(|e| format!("key {shown}: {e:?}"))?;
        }
        Ok(store)
    }
}

fn concat(a: &Bytes, b: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.freeze()
}

/// The bytes of `file` (relative to `dir`), refused past [`MAX_FILE`].
fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    read_bounded(&dir.join(file), MAX_FILE)
}

/// One store of `[local_server.kv_stores]`.
pub(crate) fn kv_store(value: toml::Value, dir: &Path) -> Result<KvStore, String> {
    let mut entries = Vec::new();
    match value {
        toml::Value::Array(items) => {
            for item in items {
                let toml::Value::Table(mut t) = item else {
                    return Err("an entry is not a table".into());
                };
                let key = match t.remove("key") {
                    Some(toml::Value::String(k)) => k,
                    _ => return Err("an entry has no key".into()),
                };
                let value = match (t.remove("data"), t.remove("file")) {
                    (Some(toml::Value::String(d)), None) => d.into_bytes(),
                    (None, Some(toml::Value::String(f))) => read(dir, &f)?,
                    _ => return Err(format!("key {key}: give one of data or file")),
                };
                let metadata = match t.remove("metadata") {
                    Some(toml::Value::String(m)) => m,
                    None => String::new(),
                    Some(_) => return Err(format!("key {key}: metadata is not a string")),
                };
                entries.push((key, Bytes::from(value), Bytes::from(metadata)));
            }
        }
        toml::Value::Table(mut t) => {
            match t.remove("format") {
                Some(toml::Value::String(f)) if f == "json" => {}
                _ => return Err("a table needs format = \"json\" and a file".into()),
            }
            let file = match t.remove("file") {
                Some(toml::Value::String(f)) => f,
                _ => return Err("no file (a string)".into()),
            };
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&read(dir, &file)?)
                    .map_err(|e| format!("{file}: not a JSON object: {e}"))?;
            for (key, v) in json {
                let (value, metadata) = match v {
                    serde_json::Value::String(s) => (s, String::new()),
                    serde_json::Value::Object(mut o) => {
                        let data = match o.remove("data") {
                            Some(serde_json::Value::String(s)) => s,
                            _ => return Err(format!("{file}: key {key}: no data")),
                        };
                        let meta = match o.remove("metadata") {
                            Some(serde_json::Value::String(s)) => s,
                            _ => String::new(),
                        };
                        (data, meta)
                    }
                    _ => return Err(format!("{file}: key {key}: not a string or an object")),
                };
                entries.push((key, Bytes::from(value), Bytes::from(metadata)));
            }
        }
        _ => return Err("not an array of items or a table".into()),
    }
    if entries.len() > MAX_ITEMS {
        return Err(format!("more than {MAX_ITEMS} items"));
    }
    KvStore::with(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn inserts_follow_their_mode_and_generation() {
        let kv = KvStore::default();
        kv.insert("k", b("one"), Insert::default()).unwrap();
        let g = kv.lookup("k").unwrap().generation;
        let add = Insert {
            mode: Some(InsertMode::Add),
            ..Insert::default()
        };
        assert_eq!(
            kv.insert("k", b("x"), add),
            Err(KvError::PreconditionFailed)
        );
        let append = Insert {
            mode: Some(InsertMode::Append),
            if_generation_match: Some(g),
            ..Insert::default()
        };
        kv.insert("k", b("two"), append).unwrap();
        assert_eq!(kv.lookup("k").unwrap().value, b("onetwo"));
        let stale = Insert {
            if_generation_match: Some(g),
            ..Insert::default()
        };
        assert_eq!(
            kv.insert("k", b("x"), stale),
            Err(KvError::PreconditionFailed)
        );
        kv.delete("k").unwrap();
        assert_eq!(kv.lookup("k").err(), Some(KvError::NotFound));
        assert_eq!(kv.lookup("a\nb").err(), Some(KvError::BadRequest));
        let ttl = Insert {
            ttl: Some(Duration::ZERO),
            ..Insert::default()
        };
        kv.insert("gone", b("x"), ttl).unwrap();
        assert_eq!(kv.lookup("gone").err(), Some(KvError::NotFound));
    }

    #[test]
    fn lists_page_through_a_prefix() {
        let kv = KvStore::default();
        for k in ["a/1", "a/2", "a/3", "b/1"] {
            kv.insert(k, b("v"), Insert::default()).unwrap();
        }
        let p = kv.list("a/", None, 2);
        assert_eq!(p.keys, ["a/1", "a/2"]);
        let p = kv.list("a/", p.next.as_deref(), 2);
        assert_eq!(p.keys, ["a/3"]);
        assert_eq!(p.next, None);
        assert_eq!(kv.list("", None, 10).keys.len(), 4);
    }
}
