//! The cache a Compute app's instances share (the core cache API, and the
//! simple cache built on it): objects by key, each key with up to
//! [`MAX_VARIANTS`] variants told apart by the request headers they vary
//! on. Objects are fresh for their max age and usable stale for their
//! stale-while-revalidate time after it; a purge by surrogate key removes
//! them or (soft) makes them stale. The cache holds at most its capacity
//! in bytes, bodies and metadata together: to store more it evicts the
//! objects used least recently, never one still being written (a write
//! that cannot make room fails).
//!
//! Request collapsing: a transactional lookup that finds nothing usable
//! makes its caller the one to insert or update the object (it holds an
//! [`Obligation`]) and makes every other transactional lookup of the key
//! wait until that caller inserts, updates, cancels, or goes away. A stale
//! object is served to the others meanwhile.

mod body;
pub(crate) mod http;
mod object;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use hyper::HeaderMap;

pub(crate) use body::{CachedReader, ObjectBody};
pub(crate) use object::{Freshness, HttpMeta, Meta, Object, Vary};

use super::status::{CallResult, Status};

/// Longest cache key.
pub(crate) const MAX_KEY: usize = 4096;
/// The first byte of the core cache's keys in the store, and of the HTTP
/// cache's: the two never see each other's objects (purges reach both).
pub(crate) const CORE_KEYS: u8 = 0;
pub(crate) const HTTP_KEYS: u8 = 1;
/// Most variants of one key; storing another drops the oldest.
const MAX_VARIANTS: usize = 16;
/// The share of the capacity one object may take, as a divisor.
const OBJECT_SHARE: u64 = 4;

/// The cache of one app (one route).
#[derive(Debug)]
pub(crate) struct Cache {
    inner: Mutex<Inner>,
    capacity: u64,
    next_transaction: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<Bytes, Entry>,
    /// Every object stored, by id: its place in `lru` and what it costs.
    stored: HashMap<u64, Stored>,
    /// Objects by last use, oldest first: tick to `(key, id)`.
    lru: BTreeMap<u64, (Bytes, u64)>,
    tick: u64,
    /// Bytes held, all objects together.
    bytes: u64,
    /// Keys with an object that has the surrogate key.
    surrogates: HashMap<String, HashSet<Bytes>>,
    next_id: u64,
}

#[derive(Debug)]
struct Stored {
    tick: u64,
    /// Bytes charged: overhead, and body bytes written so far.
    charged: u64,
    object: Arc<Object>,
}

#[derive(Debug, Default)]
struct Entry {
    /// Oldest first.
    variants: Vec<Arc<Object>>,
    /// The transaction that is to insert or update the object.
    leader: Option<u64>,
    /// Transactions waiting for it.
    waiters: Vec<Waker>,
}

/// An object a lookup found usable.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub object: Arc<Object>,
    /// Past its max age (served while revalidated).
    pub stale: bool,
}

/// What a transactional lookup gives: what it found, and whether its
/// caller is to insert or update the object.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub found: Option<Found>,
    pub obligation: Option<Obligation>,
    /// For the caller that is to insert or update: a stored object that is
    /// not usable now but that it may revalidate.
    pub stored: Option<Arc<Object>>,
    /// That object is usable if revalidating it fails (stale-if-error).
    pub usable_if_error: bool,
}

/// A caller's duty to insert or update an object that other lookups wait
/// for. Dropping it (cancelling, or the instance ending) lets the next
/// waiting lookup take it on.
#[derive(Debug)]
pub(crate) struct Obligation {
    cache: Arc<Cache>,
    key: Bytes,
    transaction: u64,
}

impl Drop for Obligation {
    fn drop(&mut self) {
        self.cache.release(&self.key, self.transaction);
    }
}

/// Writes the body of an object being stored. Dropping it unfinished
/// fails the object (its readers get an error) and removes it.
#[derive(Debug)]
pub(crate) struct CacheWriter {
    cache: Arc<Cache>,
    object: Arc<Object>,
    finished: bool,
}

impl CacheWriter {
    /// The object it writes.
    pub fn object(&self) -> &Arc<Object> {
        &self.object
    }

    /// Appends `bytes`: `limitexceeded` if the object would outgrow what
    /// one object may hold or the cache cannot make room for it (the
    /// object is then failed and removed).
    pub fn write(&mut self, bytes: Bytes) -> CallResult {
        if let Err(e) = self.cache.charge(&self.object, bytes.len() as u64) {
            self.fail();
            return Err(e);
        }
        self.object.body.append(bytes);
        Ok(())
    }

    /// Completes the object; one shorter or longer than the length the app
    /// declared is failed instead (`error`).
    pub fn finish(mut self) -> CallResult {
        if self.finished {
            return Err(Status::Error);
        }
        if let Some(len) = self.object.meta.length {
            if self.object.body.len() != len {
                self.fail();
                return Err(Status::Error);
            }
        }
        self.finished = true;
        self.object.body.end(true);
        Ok(())
    }

    fn fail(&mut self) {
        if !self.finished {
            self.finished = true;
            self.object.body.end(false);
            self.cache.remove(&self.object);
        }
    }
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        self.fail();
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache {
            inner: Mutex::default(),
            capacity: crate::RouteLimits::default().cache_size,
            next_transaction: AtomicU64::new(1),
        }
    }
}

impl Cache {
    /// An empty cache of at most `capacity` bytes.
    pub fn new(capacity: u64) -> Arc<Cache> {
        Arc::new(Cache {
            capacity,
            ..Cache::default()
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every update keeps the maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most one object may take.
    fn max_object(&self) -> u64 {
        self.capacity / OBJECT_SHARE
    }

    /// Its capacity in bytes (0: caching is off).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// A number for a new transaction.
    pub fn transaction_id(&self) -> u64 {
        self.next_transaction.fetch_add(1, Ordering::Relaxed)
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.inner().bytes
    }

    /// The usable object for `key` and a request with `headers`, if any
    /// (not collapsing with anyone).
    pub fn lookup(&self, key: &Bytes, headers: &HeaderMap) -> Option<Found> {
        let (object, freshness) = self.inner().find(key, headers, Instant::now())?;
        if matches!(freshness, Freshness::IfError | Freshness::Revalidatable) {
            return None;
        }
        object.hit();
        Some(Found {
            object,
            stale: freshness == Freshness::Stale,
        })
    }

    /// A transactional lookup of `key` by `transaction`: ready with a fresh
    /// object; or with the obligation to insert or update (and the stale
    /// object, if one is usable); or, while another transaction has that
    /// obligation, with the stale object if there is one, and otherwise
    /// pending (with `cx`'s waker kept) until that one is done.
    pub fn poll_transaction(
        self: &Arc<Self>,
        key: &Bytes,
        headers: &HeaderMap,
        transaction: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Transaction> {
        let mut inner = self.inner();
        let found = inner.find(key, headers, Instant::now());
        let found = match found {
            Some((object, Freshness::Fresh)) => {
                object.hit();
                return Poll::Ready(Transaction {
                    found: Some(Found {
                        object,
                        stale: false,
                    }),
                    obligation: None,
                    stored: None,
                    usable_if_error: false,
                });
            }
            Some((object, f @ (Freshness::IfError | Freshness::Revalidatable))) => {
                let stored = Some((object, f == Freshness::IfError));
                return self.poll_obligation(&mut inner, key, transaction, None, stored, cx);
            }
            other => other.map(|(object, _)| Found {
                object,
                stale: true,
            }),
        };
        self.poll_obligation(&mut inner, key, transaction, found, None, cx)
    }

    /// The rest of [`Self::poll_transaction`], for a lookup that found no
    /// fresh object: `found` stale (usable) if anything, or `stored`, not
    /// usable (but, if its flag says so, usable if revalidating fails).
    fn poll_obligation(
        self: &Arc<Self>,
        inner: &mut Inner,
        key: &Bytes,
        transaction: u64,
        found: Option<Found>,
        stored: Option<(Arc<Object>, bool)>,
        cx: &mut Context<'_>,
    ) -> Poll<Transaction> {
        let entry = inner.keys.entry(key.clone()).or_default();
        let obligation = match entry.leader {
            None => {
                entry.leader = Some(transaction);
                Some(Obligation {
                    cache: self.clone(),
                    key: key.clone(),
                    transaction,
                })
            }
            Some(_) if found.is_some() => None,
            Some(_) => {
                if !entry.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    entry.waiters.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
        };
        if let Some(f) = &found {
            f.object.hit();
        }
        let (stored, usable_if_error) = match stored.filter(|_| obligation.is_some()) {
            Some((o, if_error)) => (Some(o), if_error),
            None => (None, false),
        };
        Poll::Ready(Transaction {
            found,
            obligation,
            stored,
            usable_if_error,
        })
    }

    /// Stores a new object for `key` (replacing the variant with the same
    /// vary values), its body to be written through the writer given
    /// back, and wakes the lookups waiting for the key.
    pub fn insert(self: &Arc<Self>, key: Bytes, meta: Meta) -> CallResult<CacheWriter> {
        let body = Arc::new(ObjectBody::default());
        let object = self.store(key, meta, body)?;
        Ok(CacheWriter {
            cache: self.clone(),
            object,
            finished: false,
        })
    }

    /// Gives `old`'s body new metadata (its age starting again), as a new
    /// object in its place. `inval` while its body is still being written.
    pub fn update(self: &Arc<Self>, old: &Arc<Object>, meta: Meta) -> CallResult<Arc<Object>> {
        if old.body.is_writing() {
            return Err(Status::Inval);
        }
        self.remove(old);
        let object = self.store(old.key.clone(), meta, old.body.clone())?;
        // The body is there already: it is charged whole.
        self.charge(&object, old.body.len())
            .inspect_err(|_| self.remove(&object))?;
        Ok(object)
    }

    fn store(&self, key: Bytes, meta: Meta, body: Arc<ObjectBody>) -> CallResult<Arc<Object>> {
        let mut inner = self.inner();
        let id = inner.next_id;
        inner.next_id += 1;
        let object = Arc::new(Object::new(id, key.clone(), meta, body, Instant::now()));
        let cost = object.overhead();
        if cost > self.max_object() {
            return Err(Status::Limitexceeded);
        }
        inner.make_room(cost, self.capacity, None)?;
        let same_vary: Vec<Arc<Object>> = inner
            .keys
            .get(&key)
            .map(|e| {
                let mut old: Vec<_> = e
                    .variants
                    .iter()
                    .filter(|o| o.meta.vary == object.meta.vary)
                    .cloned()
                    .collect();
                if e.variants.len() - old.len() >= MAX_VARIANTS {
                    old.extend(e.variants.first().cloned());
                }
                old
            })
            .unwrap_or_default();
        for o in same_vary {
            inner.remove(&o);
        }
        for s in &object.meta.surrogate_keys {
            inner
                .surrogates
                .entry(s.clone())
                .or_default()
                .insert(key.clone());
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.lru.insert(tick, (key.clone(), id));
        inner.stored.insert(
            id,
            Stored {
                tick,
                charged: cost,
                object: object.clone(),
            },
        );
        inner.bytes += cost;
        let entry = inner.keys.entry(key).or_default();
        entry.variants.push(object.clone());
        for w in entry.waiters.drain(..) {
            w.wake();
        }
        Ok(object)
    }

    /// Counts `n` more body bytes of `object`, evicting others to make
    /// room. `limitexceeded` past what one object may hold or when no
    /// room can be made; `error` for an object no longer stored (purged).
    fn charge(&self, object: &Object, n: u64) -> CallResult {
        let mut inner = self.inner();
        let charged = inner.stored.get(&object.id).ok_or(Status::Error)?.charged;
        if charged + n > self.max_object() {
            return Err(Status::Limitexceeded);
        }
        inner.make_room(n, self.capacity, Some(object.id))?;
        inner.bytes += n;
        if let Some(s) = inner.stored.get_mut(&object.id) {
            s.charged += n;
        }
        Ok(())
    }

    /// Removes `object`, if stored.
    fn remove(&self, object: &Object) {
        self.inner().remove(object);
    }

    /// Ends `transaction`'s obligation for `key`, waking the lookups that
    /// wait for it.
    fn release(&self, key: &Bytes, transaction: u64) {
        let mut inner = self.inner();
        let Some(entry) = inner.keys.get_mut(key) else {
            return;
        };
        if entry.leader == Some(transaction) {
            entry.leader = None;
            for w in entry.waiters.drain(..) {
                w.wake();
            }
        }
        inner.forget_if_empty(key);
    }

    /// Purges every object with surrogate key `surrogate`: removes it, or
    /// (`soft`) makes it stale. How many.
    pub fn purge(&self, surrogate: &str, soft: bool) -> usize {
        let now = Instant::now();
        let mut inner = self.inner();
        let Some(keys) = inner.surrogates.get(surrogate).cloned() else {
            return 0;
        };
        let mut objects = Vec::new();
        for key in &keys {
            if let Some(e) = inner.keys.get(key) {
                objects.extend(
                    e.variants
                        .iter()
                        .filter(|o| o.meta.surrogate_keys.iter().any(|s| s == surrogate))
                        .cloned(),
                );
            }
        }
        for o in &objects {
            if soft {
                o.soft_purge(now);
            } else {
                inner.remove(o);
            }
        }
        objects.len()
    }
}

impl Inner {
    /// The newest usable variant of `key` matching `headers`, and how it
    /// stands; expired variants found on the way are removed.
    fn find(
        &mut self,
        key: &Bytes,
        headers: &HeaderMap,
        now: Instant,
    ) -> Option<(Arc<Object>, Freshness)> {
        let entry = self.keys.get(key)?;
        let mut expired = Vec::new();
        let mut found = None;
        for o in entry.variants.iter().rev() {
            if !o.meta.vary.matches(headers) {
                continue;
            }
            match o.freshness(now) {
                Freshness::Expired => expired.push(o.clone()),
                f => {
                    found = Some((o.clone(), f));
                    break;
                }
            }
        }
        for o in &expired {
            self.remove(o);
        }
        if let Some((o, _)) = &found {
            self.touch(o.id);
        }
        found
    }

    /// Marks object `id` used now.
    fn touch(&mut self, id: u64) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(s) = self.stored.get_mut(&id) {
            if let Some(place) = self.lru.remove(&s.tick) {
                self.lru.insert(tick, place);
            }
            s.tick = tick;
        }
    }

    /// Evicts the objects used least recently (not `keep`, none still
    /// being written) until `n` more bytes fit in `capacity`.
    fn make_room(&mut self, n: u64, capacity: u64, keep: Option<u64>) -> CallResult {
        while self.bytes + n > capacity {
            let victim = self
                .lru
                .values()
                .filter(|(_, id)| Some(*id) != keep)
                .filter_map(|(_, id)| self.stored.get(id))
                .find(|s| !s.object.body.is_writing())
                .map(|s| s.object.clone());
            match victim {
                Some(o) => self.remove(&o),
                None => return Err(Status::Limitexceeded),
            }
        }
        Ok(())
    }

    fn remove(&mut self, object: &Object) {
        let Some(stored) = self.stored.remove(&object.id) else {
            return;
        };
        self.lru.remove(&stored.tick);
        self.bytes -= stored.charged;
        let key = &object.key;
        if let Some(e) = self.keys.get_mut(key) {
            e.variants.retain(|o| o.id != object.id);
            for s in &object.meta.surrogate_keys {
                let still = e.variants.iter().any(|o| o.meta.surrogate_keys.contains(s));
                if !still {
                    if let Some(set) = self.surrogates.get_mut(s) {
                        set.remove(key);
                        if set.is_empty() {
                            self.surrogates.remove(s);
                        }
                    }
                }
            }
        }
        self.forget_if_empty(key);
    }

    /// Drops `key`'s entry once nothing is stored, awaited or led there.
    fn forget_if_empty(&mut self, key: &Bytes) {
        if self
            .keys
            .get(key)
            .is_some_and(|e| e.variants.is_empty() && e.leader.is_none() && e.waiters.is_empty())
        {
            self.keys.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
