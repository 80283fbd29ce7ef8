//! A cached object: its body, what the app said of it when it stored it
//! (how long it is fresh, how long it may be served stale, its surrogate
//! keys, its metadata, the request headers it varies on), and how old it
//! is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode, Version};

use super::body::ObjectBody;

/// What the app says of an object when it stores it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    /// How long it is fresh, counted from its start (its initial age
    /// included), in nanoseconds.
    pub max_age_ns: u64,
    /// How long after that it may still be served while one client
    /// revalidates it.
    pub swr_ns: u64,
    /// How old it already was when stored.
    pub initial_age_ns: u64,
    /// Its length, if the app said.
    pub length: Option<u64>,
    /// The app's own bytes, kept with it.
    pub user_metadata: Bytes,
    /// Names a purge can remove it by.
    pub surrogate_keys: Vec<String>,
    /// The request headers it varies on, and their values in the request
    /// it was stored for.
    pub vary: Vary,
    /// For an HTTP response stored by the HTTP cache: its head and what
    /// only HTTP caching uses.
    pub http: Option<Arc<HttpMeta>>,
}

/// What the HTTP cache keeps of a response besides its body.
#[derive(Debug, Clone)]
pub(crate) struct HttpMeta {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// How long after its max age it may still be served when
    /// revalidating it fails.
    pub stale_if_error_ns: u64,
    pub sensitive: bool,
    /// A record that responses for this request are not cacheable (a
    /// hit-for-pass): lookups that find it go to the backend directly.
    pub uncacheable: bool,
}

/// The request headers an object varies on, with the values they had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Vary(Vec<(HeaderName, Option<HeaderValue>)>);

impl Vary {
    /// The headers `names` (a vary rule) as `headers` has them (several
    /// values of one header are joined, as the request's meaning is).
    pub fn of(names: &[HeaderName], headers: &HeaderMap) -> Vary {
        Vary(
            names
                .iter()
                .map(|n| {
                    let mut values = headers.get_all(n).iter();
                    let first = values.next().cloned();
                    let joined = values.fold(first, |acc, v| {
                        let acc = acc?;
                        let mut b = acc.as_bytes().to_vec();
                        b.extend_from_slice(b", ");
                        b.extend_from_slice(v.as_bytes());
                        HeaderValue::from_bytes(&b).ok()
                    });
                    (n.clone(), joined)
                })
                .collect(),
        )
    }

    /// The header names.
    pub fn names(&self) -> Vec<HeaderName> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Whether a request with `headers` matches.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        *self == Vary::of(&self.names(), headers)
    }

    /// Bytes it takes.
    pub fn size(&self) -> u64 {
        self.0
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.as_ref().map_or(0, |v| v.len())) as u64)
            .sum()
    }
}

/// How an object stands at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    /// Past its max age, within stale-while-revalidate: usable while one
    /// client revalidates it.
    Stale,
    /// Past that, within stale-if-error: usable only if revalidating it
    /// fails.
    IfError,
    /// Past all of them, an HTTP response with a validator (`ETag`,
    /// `Last-Modified`), kept for [`REVALIDATABLE`] after its max age: not
    /// usable, but a `304` can make it fresh again.
    Revalidatable,
    /// Past both: as good as gone.
    Expired,
}

/// How long after its max age an HTTP response with a validator is kept
/// to be revalidated (eviction may take it before), in nanoseconds.
pub(crate) const REVALIDATABLE: u64 = 3600 * 1_000_000_000;

/// One object in the cache.
#[derive(Debug)]
pub(crate) struct Object {
    pub id: u64,
    pub key: Bytes,
    pub meta: Meta,
    pub body: Arc<ObjectBody>,
    /// When it was stored.
    stored: Instant,
    hits: AtomicU64,
    /// When it was soft-purged, as nanoseconds after `stored` plus one
    /// (0: not purged).
    purged: AtomicU64,
}

impl Object {
    pub fn new(id: u64, key: Bytes, meta: Meta, body: Arc<ObjectBody>, now: Instant) -> Object {
        Object {
            id,
            key,
            meta,
            body,
            stored: now,
            hits: AtomicU64::new(0),
            purged: AtomicU64::new(0),
        }
    }

    /// Its age at `now`, in nanoseconds.
    pub fn age_ns(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.stored).as_nanos();
        self.meta
            .initial_age_ns
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// How it stands at `now`. A soft-purged object is stale from the
    /// purge on, usable for its stale-while-revalidate time after it.
    pub fn freshness(&self, now: Instant) -> Freshness {
        let purged = self.purged.load(Ordering::Relaxed);
        if purged != 0 {
            let since_stored = now.saturating_duration_since(self.stored).as_nanos();
            let since_purge = u64::try_from(since_stored)
                .unwrap_or(u64::MAX)
                .saturating_sub(purged - 1);
            return if since_purge < self.meta.swr_ns {
                Freshness::Stale
            } else {
                Freshness::Expired
            };
        }
        let age = self.age_ns(now);
        let if_error = self.meta.http.as_ref().map_or(0, |h| h.stale_if_error_ns);
        if age < self.meta.max_age_ns {
            Freshness::Fresh
        } else if age < self.meta.max_age_ns.saturating_add(self.meta.swr_ns) {
            Freshness::Stale
        } else if age < self.meta.max_age_ns.saturating_add(if_error) {
            Freshness::IfError
        } else if self.has_validator() && age < self.meta.max_age_ns.saturating_add(REVALIDATABLE) {
            Freshness::Revalidatable
        } else {
            Freshness::Expired
        }
    }

    /// Whether it is an HTTP response a conditional request can
    /// revalidate.
    fn has_validator(&self) -> bool {
        self.meta.http.as_ref().is_some_and(|h| {
            !h.uncacheable
                && (h.headers.contains_key(hyper::header::ETAG)
                    || h.headers.contains_key(hyper::header::LAST_MODIFIED))
        })
    }

    /// Marks it stale from `now` on.
    pub fn soft_purge(&self, now: Instant) {
        let since = now.saturating_duration_since(self.stored).as_nanos();
        let at = u64::try_from(since).unwrap_or(u64::MAX - 1);
        let _ = self.purged.compare_exchange(
            0,
            at.saturating_add(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Its length: what the app said, or once written, what it is.
    pub fn length(&self) -> Option<u64> {
        self.meta.length.or_else(|| self.body.complete_len())
    }

    /// Bytes it costs the cache besides its body.
    pub fn overhead(&self) -> u64 {
        const FIXED: u64 = 256;
        let head = self.meta.http.as_ref().map_or(0, |h| {
            h.headers
                .iter()
                .map(|(n, v)| (n.as_str().len() + v.len() + 32) as u64)
                .sum::<u64>()
        });
        FIXED
            + head
            + self.key.len() as u64
            + self.meta.user_metadata.len() as u64
            + self.meta.vary.size()
            + self
                .meta
                .surrogate_keys
                .iter()
                .map(|k| k.len() as u64 + 32)
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn object(max_age: u64, swr: u64, initial_age: u64, now: Instant) -> Object {
        let meta = Meta {
            max_age_ns: max_age,
            swr_ns: swr,
            initial_age_ns: initial_age,
            ..Meta::default()
        };
        Object::new(1, Bytes::new(), meta, Arc::default(), now)
    }

    #[test]
    fn freshness_follows_max_age_and_stale_while_revalidate() {
        let t0 = Instant::now();
        let o = object(1_000, 500, 200, t0);
        let at = |ns| t0 + Duration::from_nanos(ns);
        assert_eq!(o.age_ns(at(100)), 300);
        assert_eq!(o.freshness(at(799)), Freshness::Fresh);
        assert_eq!(o.freshness(at(800)), Freshness::Stale);
        assert_eq!(o.freshness(at(1_299)), Freshness::Stale);
        assert_eq!(o.freshness(at(1_300)), Freshness::Expired);
    }

    #[test]
    fn a_soft_purge_makes_an_object_stale_for_its_revalidation_time() {
        let t0 = Instant::now();
        let at = |ns| t0 + Duration::from_nanos(ns);
        let o = object(1_000_000, 500, 0, t0);
        o.soft_purge(at(100));
        assert_eq!(o.freshness(at(100)), Freshness::Stale);
        assert_eq!(o.freshness(at(599)), Freshness::Stale);
        assert_eq!(o.freshness(at(600)), Freshness::Expired);
        let no_swr = object(1_000_000, 0, 0, t0);
        no_swr.soft_purge(at(1));
        assert_eq!(no_swr.freshness(at(1)), Freshness::Expired);
    }

    #[test]
    fn an_http_response_with_a_validator_is_kept_to_be_revalidated() {
        let t0 = Instant::now();
        let at = |ns| t0 + Duration::from_nanos(ns);
        let http = |validator: bool| {
            let mut headers = HeaderMap::new();
            if validator {
                headers.insert("etag", HeaderValue::from_static("\"v\""));
            }
            Some(Arc::new(HttpMeta {
                status: StatusCode::OK,
                version: Version::HTTP_11,
                headers,
                stale_if_error_ns: 500,
                sensitive: false,
                uncacheable: false,
            }))
        };
        let mut with = object(1_000, 0, 0, t0);
        with.meta.http = http(true);
        assert_eq!(with.freshness(at(1_200)), Freshness::IfError);
        assert_eq!(with.freshness(at(1_500)), Freshness::Revalidatable);
        assert_eq!(
            with.freshness(at(1_000 + REVALIDATABLE)),
            Freshness::Expired
        );
        let mut without = object(1_000, 0, 0, t0);
        without.meta.http = http(false);
        assert_eq!(without.freshness(at(1_500)), Freshness::Expired);
    }

    #[test]
    fn vary_compares_the_named_headers_only() {
        let names = [HeaderName::from_static("accept-language")];
        let mut en = HeaderMap::new();
        en.insert("accept-language", HeaderValue::from_static("en"));
        en.insert("x-other", HeaderValue::from_static("1"));
        let v = Vary::of(&names, &en);
        let mut en2 = HeaderMap::new();
        en2.insert("accept-language", HeaderValue::from_static("en"));
        assert!(v.matches(&en2));
        let mut fr = HeaderMap::new();
        fr.insert("accept-language", HeaderValue::from_static("fr"));
        assert!(!v.matches(&fr));
        assert!(!v.matches(&HeaderMap::new()));
        assert!(Vary::default().matches(&fr));
    }
}
