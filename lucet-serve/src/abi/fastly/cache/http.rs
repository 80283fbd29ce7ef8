//! HTTP caching rules, as Fastly's readthrough cache applies them (RFC
//! 9111, conservatively): which requests may be answered from the cache,
//! the key a request is cached under, how long a response is fresh (and
//! usable stale), whether to store it, and how a `304 Not Modified`
//! revalidates a stored response. Pure functions over heads.

use std::time::{Duration, SystemTime};

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use sha2::{Digest, Sha256};

/// How long a response that says nothing of its freshness is fresh.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// What to do with a backend's response for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum StorageAction {
    Insert = 0,
    /// Refresh the stored response (a `304` to a revalidation).
    Update = 1,
    DoNotStore = 2,
    /// Record that responses for this request are not cacheable.
    RecordUncacheable = 3,
}

/// What a response's headers say of caching it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Suggested {
    pub max_age_ns: u64,
    pub initial_age_ns: u64,
    pub swr_ns: u64,
    pub stale_if_error_ns: u64,
    /// The request headers it varies on, lower case, separated by spaces.
    pub vary_rule: String,
    pub length: Option<u64>,
}

/// Whether responses to `method` may come from the cache.
pub(crate) fn is_cacheable_method(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// The key a request is cached under: SHA-256 of its URL (32 bytes, as the
/// ABI wants), the same for `GET` and `HEAD`.
pub(crate) fn suggested_key(url: &str) -> [u8; 32] {
    Sha256::digest(url.as_bytes()).into()
}

/// The directives of every `name` header (comma-separated, `key` or
/// `key=value`, keys lower case, quotes taken off values).
fn directives(headers: &HeaderMap, name: &HeaderName) -> Vec<(String, Option<String>)> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|d| {
            let d = d.trim();
            if d.is_empty() {
                return None;
            }
            Some(match d.split_once('=') {
                Some((k, v)) => (
                    k.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"').to_string()),
                ),
                None => (d.to_ascii_lowercase(), None),
            })
        })
        .collect()
}

/// The seconds directive `key` of `list` says, if it says one that parses.
fn seconds(list: &[(String, Option<String>)], key: &str) -> Option<u64> {
    list.iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_deref()?.parse().ok())
}

fn has(list: &[(String, Option<String>)], key: &str) -> bool {
    list.iter().any(|(k, _)| k == key)
}

fn surrogate_control() -> HeaderName {
    HeaderName::from_static("surrogate-control")
}

fn ns(secs: u64) -> u64 {
    secs.saturating_mul(1_000_000_000)
}

/// What the headers of a response (received `now`) suggest: freshness
/// from `Surrogate-Control: max-age`, else `Cache-Control: s-maxage`, else
/// `max-age`, else `Expires` less `Date`, else [`DEFAULT_TTL`]; its age from
/// `Age`; stale-while-revalidate and stale-if-error from either header;
/// the vary rule from `Vary`; the length from `Content-Length`.
pub(crate) fn suggested(headers: &HeaderMap, now: SystemTime) -> Suggested {
    let cc = directives(headers, &header::CACHE_CONTROL);
    let sc = directives(headers, &surrogate_control());
    let from_dates = || {
        let date = |h: &HeaderName| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())
        };
        let expires = date(&header::EXPIRES)?;
        let base = date(&header::DATE).unwrap_or(now);
        // An Expires in the past (or unparsable, "0") is already stale.
        Some(expires.duration_since(base).map_or(0, |d| d.as_secs()))
    };
    let max_age = seconds(&sc, "max-age")
        .or_else(|| seconds(&cc, "s-maxage"))
        .or_else(|| seconds(&cc, "max-age"))
        .or_else(|| {
            headers
                .contains_key(header::EXPIRES)
                .then(|| from_dates().unwrap_or(0))
        })
        .unwrap_or(DEFAULT_TTL.as_secs());
    let initial_age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let either = |key| seconds(&sc, key).or_else(|| seconds(&cc, key)).unwrap_or(0);
    let mut vary: Vec<String> = Vec::new();
    for name in directives(headers, &header::VARY) {
        if !vary.contains(&name.0) {
            vary.push(name.0);
        }
    }
    Suggested {
        // Fresh for its lifetime from its start: an initial age counts.
        max_age_ns: ns(max_age.saturating_add(initial_age)),
        initial_age_ns: ns(initial_age),
        swr_ns: ns(either("stale-while-revalidate")),
        stale_if_error_ns: ns(either("stale-if-error")),
        vary_rule: vary.join(" "),
        length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    }
}

/// Statuses a response may be stored with without saying so.
fn is_cacheable_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// What to do with a backend's response with `status` and `headers`;
/// `revalidating` when a stored response was stale and the request asked
/// for it conditionally.
pub(crate) fn storage_action(
    status: StatusCode,
    headers: &HeaderMap,
    revalidating: bool,
) -> StorageAction {
    if revalidating && status == StatusCode::NOT_MODIFIED {
        return StorageAction::Update;
    }
    let cc = directives(headers, &header::CACHE_CONTROL);
    let sc = directives(headers, &surrogate_control());
    let vary_all = directives(headers, &header::VARY)
        .iter()
        .any(|(k, _)| k == "*");
    if has(&sc, "no-store")
        || has(&cc, "private")
        || has(&cc, "no-store")
        || has(&cc, "no-cache")
        || vary_all
    {
        return StorageAction::RecordUncacheable;
    }
    if !is_cacheable_status(status) {
        return StorageAction::DoNotStore;
    }
    StorageAction::Insert
}

/// Headers a `304` does not change in the stored response.
fn keeps_its_own(name: &HeaderName) -> bool {
    *name == header::CONTENT_LENGTH
        || *name == header::TRANSFER_ENCODING
        || *name == header::CONTENT_ENCODING
        || *name == header::CONTENT_RANGE
}

/// The stored response's headers refreshed by a `304`'s.
pub(crate) fn revalidated(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut out = stored.clone();
    for name in not_modified.keys() {
        if keeps_its_own(name) {
            continue;
        }
        out.remove(name);
        for v in not_modified.get_all(name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// The conditional headers that revalidate a stored response with
/// `stored` headers: `If-None-Match` from its `ETag`, `If-Modified-Since`
/// from its `Last-Modified`.
pub(crate) fn conditions(stored: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Some(etag) = stored.get(header::ETAG) {
        out.push((header::IF_NONE_MATCH, etag.clone()));
    }
    if let Some(modified) = stored.get(header::LAST_MODIFIED) {
        out.push((header::IF_MODIFIED_SINCE, modified.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn freshness_comes_from_the_most_specific_header() {
        let now = SystemTime::now();
        let s = |pairs: &[(&'static str, &'static str)]| suggested(&headers(pairs), now);
        assert_eq!(s(&[]).max_age_ns, 3600 * S, "the default");
        assert_eq!(s(&[("cache-control", "max-age=60")]).max_age_ns, 60 * S);
        assert_eq!(
            s(&[("cache-control", "max-age=60, s-maxage=30")]).max_age_ns,
            30 * S
        );
        assert_eq!(
            s(&[
                ("cache-control", "s-maxage=30"),
                ("surrogate-control", "max-age=10")
            ])
            .max_age_ns,
            10 * S
        );
        let with_age = s(&[("cache-control", "max-age=60"), ("age", "20")]);
        assert_eq!(
            (with_age.max_age_ns, with_age.initial_age_ns),
            (80 * S, 20 * S)
        );
        let dated = s(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
        ]);
        assert_eq!(dated.max_age_ns, 60 * S);
        assert_eq!(s(&[("expires", "0")]).max_age_ns, 0, "already stale");
        let swr = s(&[(
            "cache-control",
            "max-age=1, stale-while-revalidate=5, stale-if-error=\"9\"",
        )]);
        assert_eq!((swr.swr_ns, swr.stale_if_error_ns), (5 * S, 9 * S));
        let vary = s(&[
            ("vary", "Accept-Encoding, accept-language"),
            ("content-length", "12"),
        ]);
        assert_eq!(vary.vary_rule, "accept-encoding accept-language");
        assert_eq!(vary.length, Some(12));
    }

    #[test]
    fn what_is_stored_follows_status_and_directives() {
        let ok = StatusCode::OK;
        let act = |status, pairs: &[(&'static str, &'static str)], reval| {
            storage_action(status, &headers(pairs), reval)
        };
        assert_eq!(act(ok, &[], false), StorageAction::Insert);
        assert_eq!(
            act(StatusCode::NOT_FOUND, &[], false),
            StorageAction::Insert
        );
        assert_eq!(
            act(StatusCode::INTERNAL_SERVER_ERROR, &[], false),
            StorageAction::DoNotStore
        );
        for uncacheable in [
            ("cache-control", "private"),
            ("cache-control", "no-store"),
            ("cache-control", "no-cache"),
            ("surrogate-control", "no-store"),
            ("vary", "*"),
        ] {
            assert_eq!(
                act(ok, &[uncacheable], false),
                StorageAction::RecordUncacheable,
                "{uncacheable:?}"
            );
        }
        assert_eq!(
            act(StatusCode::NOT_MODIFIED, &[], true),
            StorageAction::Update
        );
        assert_eq!(
            act(StatusCode::NOT_MODIFIED, &[], false),
            StorageAction::DoNotStore
        );
    }

    #[test]
    fn a_304_refreshes_the_stored_headers_but_not_its_framing() {
        let stored = headers(&[
            ("etag", "\"a\""),
            ("cache-control", "max-age=1"),
            ("content-length", "5"),
        ]);
        let nm = headers(&[("cache-control", "max-age=60"), ("content-length", "0")]);
        let out = revalidated(&stored, &nm);
        assert_eq!(out["cache-control"], "max-age=60");
        assert_eq!(out["content-length"], "5");
        assert_eq!(out["etag"], "\"a\"");
        let c = conditions(&stored);
        assert_eq!(
            c,
            vec![(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\""))]
        );
    }

    #[test]
    fn keys_are_32_bytes_and_only_the_url_counts() {
        let a = suggested_key("http://example.com/a");
        assert_eq!(a.len(), 32);
        assert_eq!(a, suggested_key("http://example.com/a"));
        assert_ne!(a, suggested_key("http://example.com/b"));
        assert!(is_cacheable_method(&Method::HEAD));
        assert!(!is_cacheable_method(&Method::POST));
    }
}
