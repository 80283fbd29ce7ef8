use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};

use super::*;

#[derive(Default)]
struct Count(AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count::default());
    (c.clone(), Waker::from(c))
}

fn key(k: &str) -> Bytes {
    Bytes::copy_from_slice(k.as_bytes())
}

fn fresh_for(secs: u64) -> Meta {
    Meta {
        max_age_ns: secs * 1_000_000_000,
        ..Meta::default()
    }
}

fn put(cache: &Arc<Cache>, k: &str, meta: Meta, body: &'static [u8]) -> CallResult {
    let mut w = cache.insert(key(k), meta)?;
    w.write(Bytes::from_static(body))?;
    w.finish()
}

fn poll_tx(cache: &Arc<Cache>, k: &str, tx: u64, w: &Waker) -> Poll<Transaction> {
    cache.poll_transaction(&key(k), &HeaderMap::new(), tx, &mut Context::from_waker(w))
}

#[test]
fn an_object_is_found_while_and_after_it_is_written() {
    let cache = Cache::new(1 << 20);
    let none = HeaderMap::new();
    assert!(cache.lookup(&key("k"), &none).is_none());
    let mut w = cache.insert(key("k"), fresh_for(60)).unwrap();
    w.write(Bytes::from_static(b"abc")).unwrap();
    let found = cache.lookup(&key("k"), &none).expect("found while written");
    assert!(found.object.body.is_writing());
    assert_eq!(found.object.length(), None);
    w.finish().unwrap();
    let found = cache.lookup(&key("k"), &none).unwrap();
    assert!(!found.stale);
    assert_eq!(found.object.length(), Some(3));
    assert_eq!(found.object.hits(), 2);
}

#[test]
fn a_writer_that_goes_away_unfinished_leaves_nothing() {
    let cache = Cache::new(1 << 20);
    let mut w = cache.insert(key("k"), fresh_for(60)).unwrap();
    w.write(Bytes::from_static(b"abc")).unwrap();
    let body = cache
        .lookup(&key("k"), &HeaderMap::new())
        .unwrap()
        .object
        .body
        .clone();
    drop(w);
    assert!(cache.lookup(&key("k"), &HeaderMap::new()).is_none());
    assert_eq!(body.complete_len(), None);
    assert_eq!(cache.bytes(), 0);
    // A declared length that the body does not have fails it too.
    let meta = Meta {
        length: Some(10),
        ..fresh_for(60)
    };
    assert_eq!(put(&cache, "k", meta, b"short"), Err(Status::Error));
    assert!(cache.lookup(&key("k"), &HeaderMap::new()).is_none());
}

#[test]
fn transactions_collapse_onto_one_inserter() {
    let cache = Cache::new(1 << 20);
    let (woken, w) = waker();
    let (a, b) = (cache.transaction_id(), cache.transaction_id());
    let Poll::Ready(first) = poll_tx(&cache, "k", a, &w) else {
        panic!("the first lookup does not wait");
    };
    assert!(first.found.is_none());
    assert!(first.obligation.is_some(), "the first is to insert");
    assert!(poll_tx(&cache, "k", b, &w).is_pending(), "the second waits");
    let mut writer = cache.insert(key("k"), fresh_for(60)).unwrap();
    drop(first);
    assert!(woken.0.load(Ordering::SeqCst) >= 1);
    writer.write(Bytes::from_static(b"v")).unwrap();
    let Poll::Ready(second) = poll_tx(&cache, "k", b, &w) else {
        panic!("the second is released by the insert");
    };
    assert!(second.obligation.is_none());
    assert!(second.found.is_some_and(|f| !f.stale));
    writer.finish().unwrap();
}

#[test]
fn a_cancelled_obligation_passes_to_a_waiting_transaction() {
    let cache = Cache::new(1 << 20);
    let (woken, w) = waker();
    let (a, b) = (cache.transaction_id(), cache.transaction_id());
    let Poll::Ready(first) = poll_tx(&cache, "k", a, &w) else {
        panic!("the first lookup does not wait");
    };
    assert!(poll_tx(&cache, "k", b, &w).is_pending());
    drop(first);
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    let Poll::Ready(second) = poll_tx(&cache, "k", b, &w) else {
        panic!("released");
    };
    assert!(
        second.obligation.is_some(),
        "the waiter takes the obligation on"
    );
    drop(second);
    assert!(cache.inner().keys.is_empty(), "nothing is left behind");
}

#[test]
fn a_stale_object_is_served_while_one_transaction_revalidates() {
    let cache = Cache::new(1 << 20);
    let meta = Meta {
        max_age_ns: 1,
        swr_ns: 3_600_000_000_000,
        ..Meta::default()
    };
    put(&cache, "k", meta, b"old").unwrap();
    std::thread::sleep(Duration::from_millis(1));
    let (_, w) = waker();
    let Poll::Ready(first) = poll_tx(&cache, "k", cache.transaction_id(), &w) else {
        panic!("no wait");
    };
    assert!(first.found.as_ref().is_some_and(|f| f.stale));
    assert!(first.obligation.is_some(), "the first revalidates");
    let Poll::Ready(second) = poll_tx(&cache, "k", cache.transaction_id(), &w) else {
        panic!("a stale object is served at once");
    };
    assert!(second.found.is_some_and(|f| f.stale));
    assert!(second.obligation.is_none());
    let old = first.found.unwrap().object;
    let updated = cache.update(&old, fresh_for(60)).unwrap();
    assert_eq!(updated.body.complete_len(), Some(3));
    let found = cache.lookup(&key("k"), &HeaderMap::new()).unwrap();
    assert!(!found.stale);
    assert_eq!(found.object.id, updated.id);
}

#[test]
fn expired_objects_are_gone() {
    let cache = Cache::new(1 << 20);
    put(&cache, "k", Meta::default(), b"v").unwrap();
    assert!(cache.lookup(&key("k"), &HeaderMap::new()).is_none());
    assert_eq!(cache.bytes(), 0);
}

#[test]
fn the_least_recently_used_objects_make_room_and_the_capacity_holds() {
    // 4 KiB, so 1 KiB an object at most.
    let cache = Cache::new(4096);
    let kib = Bytes::from(vec![7u8; 700]);
    for k in ["a", "b", "c", "d"] {
        let mut w = cache.insert(key(k), fresh_for(60)).unwrap();
        w.write(kib.clone()).unwrap();
        w.finish().unwrap();
    }
    let none = HeaderMap::new();
    // "a" is used: "b" is now the oldest.
    assert!(cache.lookup(&key("a"), &none).is_some());
    let mut w = cache.insert(key("e"), fresh_for(60)).unwrap();
    w.write(kib.clone()).unwrap();
    w.finish().unwrap();
    assert!(cache.bytes() <= 4096);
    assert!(cache.lookup(&key("a"), &none).is_some());
    assert!(cache.lookup(&key("b"), &none).is_none(), "the oldest went");
    assert!(cache.lookup(&key("e"), &none).is_some());
    // One object may not take more than its share.
    let mut big = cache.insert(key("big"), fresh_for(60)).unwrap();
    assert_eq!(
        big.write(Bytes::from(vec![0u8; 2000])),
        Err(Status::Limitexceeded)
    );
    assert!(cache.lookup(&key("big"), &none).is_none());
}

#[test]
fn objects_being_written_are_not_evicted() {
    let cache = Cache::new(4096);
    let mut writers = Vec::new();
    for k in ["a", "b", "c", "d"] {
        let mut w = cache.insert(key(k), fresh_for(60)).unwrap();
        w.write(Bytes::from(vec![1u8; 700])).unwrap();
        writers.push(w);
    }
    let mut more = cache.insert(key("e"), fresh_for(60));
    let refused = match more.as_mut() {
        Ok(w) => w.write(Bytes::from(vec![1u8; 700])),
        Err(e) => Err(*e),
    };
    assert_eq!(refused, Err(Status::Limitexceeded));
    for k in ["a", "b", "c", "d"] {
        assert!(cache.lookup(&key(k), &HeaderMap::new()).is_some());
    }
}

#[test]
fn purges_remove_or_stale_what_has_the_surrogate_key() {
    let cache = Cache::new(1 << 20);
    let tagged = |keys: &[&str], swr: u64| Meta {
        surrogate_keys: keys.iter().map(|s| s.to_string()).collect(),
        swr_ns: swr,
        ..fresh_for(60)
    };
    put(&cache, "a", tagged(&["t1", "t2"], 0), b"a").unwrap();
    put(&cache, "b", tagged(&["t2"], 60_000_000_000), b"b").unwrap();
    put(&cache, "c", tagged(&[], 0), b"c").unwrap();
    let none = HeaderMap::new();
    assert_eq!(cache.purge("t1", false), 1);
    assert!(cache.lookup(&key("a"), &none).is_none());
    assert_eq!(cache.purge("t2", true), 1);
    let b = cache
        .lookup(&key("b"), &none)
        .expect("soft-purged: stale, usable");
    assert!(b.stale);
    assert!(cache.lookup(&key("c"), &none).is_some());
    assert_eq!(cache.purge("nothing", false), 0);
    assert!(!cache.inner().surrogates.contains_key("t1"));
}

#[test]
fn variants_are_told_apart_by_the_headers_they_vary_on() {
    let cache = Cache::new(1 << 20);
    let lang = HeaderName::from_static("accept-language");
    let req = |v: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(lang.clone(), HeaderValue::from_static(v));
        h
    };
    for (v, body) in [("en", b"hello"), ("fr", b"salut")] {
        let meta = Meta {
            vary: Vary::of(std::slice::from_ref(&lang), &req(v)),
            ..fresh_for(60)
        };
        put(&cache, "k", meta, body).unwrap();
    }
    let en = cache.lookup(&key("k"), &req("en")).unwrap();
    let fr = cache.lookup(&key("k"), &req("fr")).unwrap();
    assert_ne!(en.object.id, fr.object.id);
    assert_eq!(en.object.body.complete_len(), Some(5));
    assert!(cache.lookup(&key("k"), &req("de")).is_none());
    // Storing the "en" variant again replaces it, not "fr".
    let meta = Meta {
        vary: Vary::of(std::slice::from_ref(&lang), &req("en")),
        ..fresh_for(60)
    };
    put(&cache, "k", meta, b"hi").unwrap();
    assert_eq!(cache.inner().keys[&key("k")].variants.len(), 2);
}
