//! The body of a cached object: written once, as the app streams it in,
//! and read by any number of readers at once, each of which waits for
//! bytes not written yet. A body whose writer went away before finishing
//! it is failed: its readers get an error, never a short object taken for
//! a whole one.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// The most one read of a cached body gives at a time.
const READ_CHUNK: u64 = 64 << 10;

/// A cached object's bytes, shared by its writer and its readers.
#[derive(Debug, Default)]
pub(crate) struct ObjectBody {
    state: Mutex<BodyState>,
}

#[derive(Debug, Default)]
struct BodyState {
    chunks: Vec<Bytes>,
    /// Where each chunk starts.
    starts: Vec<u64>,
    len: u64,
    end: Option<Ending>,
    /// Readers waiting for more.
    wakers: Vec<Waker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Complete,
    Failed,
}

impl ObjectBody {
    fn state(&self) -> MutexGuard<'_, BodyState> {
        // A panic while the lock was held leaves consistent data: every
        // update is a push or an assignment.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its length, once it is complete.
    pub fn complete_len(&self) -> Option<u64> {
        let s = self.state();
        (s.end == Some(Ending::Complete)).then_some(s.len)
    }

    /// Whether it is still being written.
    pub fn is_writing(&self) -> bool {
        self.state().end.is_none()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.state().len
    }

    /// Appends `bytes` (the writer's).
    pub(super) fn append(&self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let mut s = self.state();
        let at = s.len;
        s.len += bytes.len() as u64;
        s.starts.push(at);
        s.chunks.push(bytes);
        for w in s.wakers.drain(..) {
            w.wake();
        }
    }

    /// Ends it: complete, or (`ok` false) failed.
    pub(super) fn end(&self, ok: bool) {
        let mut s = self.state();
        if s.end.is_none() {
            s.end = Some(if ok { Ending::Complete } else { Ending::Failed });
        }
        for w in s.wakers.drain(..) {
            w.wake();
        }
    }

    /// Up to `max` bytes from `pos`: `Ok(None)` at its end, `Err` if it
    /// failed, `Pending` (with `cx`'s waker kept) until they are written.
    fn poll_read(
        &self,
        pos: u64,
        max: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, ()>> {
        let mut s = self.state();
        if s.end == Some(Ending::Failed) {
            return Poll::Ready(Err(()));
        }
        if pos < s.len {
            // The chunk holding `pos`: the last that starts at or before it.
            let i = s.starts.partition_point(|&start| start <= pos) - 1;
            let chunk = &s.chunks[i];
            let from = (pos - s.starts[i]) as usize;
            let to = chunk.len().min(from + max as usize);
            return Poll::Ready(Ok(Some(chunk.slice(from..to))));
        }
        if s.end == Some(Ending::Complete) {
            return Poll::Ready(Ok(None));
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// One reader of a cached body, over a range of it.
#[derive(Debug)]
pub(crate) struct CachedReader {
    body: Arc<ObjectBody>,
    pos: u64,
    /// Where the range ends (exclusive); `None`: at the body's end.
    end: Option<u64>,
}

impl CachedReader {
    /// Reads `body` from `from` up to `end` (exclusive; `None`: all).
    pub fn new(body: Arc<ObjectBody>, from: u64, end: Option<u64>) -> CachedReader {
        CachedReader {
            body,
            pos: from,
            end,
        }
    }

    /// The next piece: `None` at the end of the range, an error if the
    /// body failed, `Pending` until the writer has written it.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ()>>> {
        let max = match self.end {
            Some(end) if self.pos >= end => return Poll::Ready(None),
            Some(end) => (end - self.pos).min(READ_CHUNK),
            None => READ_CHUNK,
        };
        match self.body.poll_read(self.pos, max, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(())) => Poll::Ready(Some(Err(()))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Ok(Some(b))) => {
                self.pos += b.len() as u64;
                Poll::Ready(Some(Ok(b)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn read_all(r: &mut CachedReader, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>, ()>> {
        let mut out = Vec::new();
        loop {
            match r.poll_chunk(cx) {
                Poll::Ready(None) => return Poll::Ready(Ok(out)),
                Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
                Poll::Ready(Some(Err(()))) => return Poll::Ready(Err(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    #[test]
    fn readers_wait_for_what_is_not_written_yet() {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let body = Arc::new(ObjectBody::default());
        let mut whole = CachedReader::new(body.clone(), 0, None);
        let mut range = CachedReader::new(body.clone(), 3, Some(7));
        body.append(Bytes::from_static(b"hello"));
        assert_eq!(
            whole.poll_chunk(&mut cx),
            Poll::Ready(Some(Ok("hello".into())))
        );
        assert!(whole.poll_chunk(&mut cx).is_pending());
        assert_eq!(
            range.poll_chunk(&mut cx),
            Poll::Ready(Some(Ok("lo".into())))
        );
        assert!(range.poll_chunk(&mut cx).is_pending());
        body.append(Bytes::from_static(b" world"));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "waiting readers are woken, once"
        );
        assert_eq!(
            read_all(&mut range, &mut cx),
            Poll::Ready(Ok(b" w".to_vec()))
        );
        assert_eq!(
            whole.poll_chunk(&mut cx),
            Poll::Ready(Some(Ok(" world".into())))
        );
        assert!(
            whole.poll_chunk(&mut cx).is_pending(),
            "not ended: more may come"
        );
        assert_eq!(body.complete_len(), None);
        body.end(true);
        assert_eq!(whole.poll_chunk(&mut cx), Poll::Ready(None));
        assert_eq!(body.complete_len(), Some(11));
    }

    #[test]
    fn a_failed_body_is_an_error_to_its_readers() {
        let waker = Waker::from(Arc::new(Count::default()));
        let mut cx = Context::from_waker(&waker);
        let body = Arc::new(ObjectBody::default());
        body.append(Bytes::from_static(b"part"));
        let mut r = CachedReader::new(body.clone(), 0, None);
        body.end(false);
        assert_eq!(read_all(&mut r, &mut cx), Poll::Ready(Err(())));
        // Ending again changes nothing.
        body.end(true);
        assert_eq!(body.complete_len(), None);
    }
}
