//! What the server watches on one client connection: requests in flight
//! (a connection with none for the idle timeout is closed), and responses
//! the client leaves unread (a connection whose client has taken nothing
//! of a response for the send timeout is closed). Response bodies go to
//! hyper in slices of 64 KiB, so that hyper holds little of a response the
//! client does not take, and a body held whole gives its share of the
//! server's response budget back as it is sent.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::body_budget::Held;
use crate::request::BodyStream;

/// A response body: whole, or streamed by a handler.
pub(crate) type Body = http_body_util::Either<http_body_util::Full<Bytes>, BodyStream>;

/// How often the connection limit being reached is logged, at most.
pub(crate) const FULL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The most of a response handed to hyper at once.
const SLICE: usize = 64 << 10;

/// One connection's requests in flight, and when things last happened.
#[derive(Default)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds after `since` of the last request's end.
    last_ms: AtomicU64,
    /// When a part of a response was handed to hyper that the client has
    /// not taken yet (hyper has not asked for more), as milliseconds after
    /// `since` plus one; 0 when none waits on the client.
    handed_ms: AtomicU64,
    since: OnceLock<Instant>,
}

/// A request in flight (until dropped).
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        a.last_ms.store(a.now_ms(), Ordering::Relaxed);
        a.handed_ms.store(0, Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        let since = self.since.get_or_init(Instant::now);
        u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// A request begins.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Ready once the connection has had no request in flight for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
        self.wait_until(idle, |a| {
            if a.in_flight.load(Ordering::Relaxed) > 0 {
                return None;
            }
            Some(a.last_ms.load(Ordering::Relaxed))
        })
        .await;
    }

    /// Ready once a part of a response has waited `timeout` for the client
    /// to take it.
    pub async fn unread_for(&self, timeout: Duration) {
        self.wait_until(timeout, |a| match a.handed_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at - 1),
        })
        .await;
    }

    /// Ready once `since` (a time in milliseconds, or none) is `d` ago,
    /// checked a few times a period.
    async fn wait_until(&self, d: Duration, since: impl Fn(&Self) -> Option<u64>) {
        let step = (d / 4).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(step).await;
            if let Some(at) = since(self) {
                if Duration::from_millis(self.now_ms().saturating_sub(at)) >= d {
                    return;
                }
            }
        }
    }
}

/// A response body as it goes to the client: in slices, its request in
/// flight until it is sent, its share of the response budget given back as
/// it goes.
pub(crate) struct Tracked {
    body: Body,
    /// The rest of a frame larger than a slice.
    rest: Option<Bytes>,
    held: Option<Arc<Held>>,
    busy: Busy,
}

impl Tracked {
    pub fn new(body: Body, held: Option<Arc<Held>>, busy: Busy) -> Tracked {
        Tracked {
            body,
            rest: None,
            held,
            busy,
        }
    }

    /// The next slice of `data` (the rest kept), handed over.
    fn hand(&mut self, mut data: Bytes) -> Bytes {
        if data.len() > SLICE {
            self.rest = Some(data.split_off(SLICE));
        }
        if let Some(h) = &self.held {
            h.give_back(data.len() as u64);
        }
        let a = &self.busy.0;
        a.handed_ms.store(a.now_ms() + 1, Ordering::Relaxed);
        data
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // Hyper asks for more: the client has taken what it had.
        self.busy.0.handed_ms.store(0, Ordering::Relaxed);
        if let Some(rest) = self.rest.take() {
            let slice = self.hand(rest);
            return Poll::Ready(Some(Ok(Frame::data(slice))));
        }
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    let slice = self.hand(data);
                    Poll::Ready(Some(Ok(Frame::data(slice))))
                }
                Err(other) => Poll::Ready(Some(Ok(other))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.as_ref().map_or(0, |r| r.len() as u64);
        let inner = self.body.size_hint();
        match inner.exact() {
            Some(n) => SizeHint::with_exact(n + rest),
            None => {
                let mut h = SizeHint::new();
                h.set_lower(inner.lower() + rest);
                h
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_whole_body_goes_in_slices_and_gives_its_share_back() {
        let budget = crate::body_budget::BodyBudget::new(1 << 20);
        let held = budget.hold();
        assert!(held.take(200_000));
        let activity = Arc::new(Activity::default());
        let body: Body =
            http_body_util::Either::Left(http_body_util::Full::new(Bytes::from(vec![
                7u8;
                200_000
            ])));
        let mut t = Tracked::new(body, Some(held), activity.begin());
        assert_eq!(hyper::body::Body::size_hint(&t).exact(), Some(200_000));
        let mut sizes = Vec::new();
        while let Some(frame) = t.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().len());
            assert!(activity.handed_ms.load(Ordering::Relaxed) > 0);
        }
        assert_eq!(sizes, [SLICE, SLICE, SLICE, 200_000 - 3 * SLICE]);
        assert_eq!(budget.used(), 0);
        drop(t);
        assert_eq!(activity.in_flight.load(Ordering::Relaxed), 0);
    }
}
