//! Where a handler's standard output and standard error go: a buffer with a
//! limit, and the log.

use super::log_file::LogFile;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Standard output, collected up to a limit. Clones share the buffer: one
/// goes into the WASI context, one stays with the ABI to read it back.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    /// Bytes the handler tried to write past the limit were dropped.
    pub overflowed: bool,
    limit: usize,
}

impl Capture {
    pub fn new(limit: usize) -> Capture {
        Capture {
            inner: Arc::new(Mutex::new(Captured {
                bytes: Vec::new(),
                overflowed: false,
                limit,
            })),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Captured> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut c = self.lock();
        let room = c.limit - c.bytes.len();
        if buf.len() > room {
            c.overflowed = true;
            // The guest sees a failed write (EFBIG): a handler that checks
            // stops; one that does not is refused all the same.
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
        c.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Standard error, logged a line at a time with the request's id, its
/// control characters escaped, up to a limit per request: a budget of
/// bytes that every stream of the request's log shares
/// ([`sharing`](LogLines::sharing)).
pub(crate) struct LogLines {
    /// The id of the request the lines belong to: shared with the run's
    /// state, which changes it when a reused instance takes its next
    /// request.
    request: RequestLabel,
    route: String,
    /// What the lines come from, when not standard error.
    source: Option<String>,
    pending: Vec<u8>,
    room: Arc<AtomicUsize>,
    dropped: usize,
    /// Where the lines go instead of the server's log.
    file: Option<Arc<LogFile>>,
}

/// The id of the request a stream's lines are logged under.
pub(crate) type RequestLabel = Arc<std::sync::Mutex<String>>;

/// A label for `request`'s id.
pub(crate) fn request_label(request: &str) -> RequestLabel {
    Arc::new(std::sync::Mutex::new(request.to_string()))
}

/// Longest line logged as one event; longer lines are split.
const MAX_LINE: usize = 4096;
/// What one logged line costs the budget besides its text: an event's
/// request id, route, source and time. 65,536 empty lines are thus not
/// 65,536 events.
pub(crate) const LINE_COST: usize = 64;

impl LogLines {
    pub fn new(request: &str, route: &str, limit: usize) -> LogLines {
        LogLines::sharing(request, route, Arc::new(AtomicUsize::new(limit)))
    }

    /// Lines whose bytes come out of `room`, which other streams of the
    /// same request may share.
    pub fn sharing(request: &str, route: &str, room: Arc<AtomicUsize>) -> LogLines {
        LogLines::labelled_by(request_label(request), route, room)
    }

    /// As [`sharing`](Self::sharing), logged under whatever id `request`
    /// holds when a line is written.
    pub fn labelled_by(request: RequestLabel, route: &str, room: Arc<AtomicUsize>) -> LogLines {
        LogLines {
            request,
            route: route.to_string(),
            source: None,
            pending: Vec::new(),
            room,
            dropped: 0,
            file: None,
        }
    }

    /// The same, with the lines going to `file` (each escaped to one
    /// line) instead of the server's log.
    pub fn into_file(mut self, file: Arc<LogFile>) -> LogLines {
        self.file = Some(file);
        self
    }

    /// The same, for lines from `source` (standard output, a log
    /// endpoint), which the log shows (escaped).
    pub fn labelled(mut self, source: &str) -> LogLines {
        self.source = Some(lucet_module::escape_control(source));
        self
    }

    /// The id of the request the lines belong to now.
    fn request_id(&self) -> String {
        self.request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes `cost` bytes of the budget if they are all there; otherwise
    /// the budget is spent (nothing more of the request is logged).
    fn reserve_all(&self, cost: usize) -> bool {
        self.room
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |room| {
                Some(room.saturating_sub(cost))
            })
            .is_ok_and(|room| room >= cost)
    }

    /// Logs `line`, if the budget has room for it as it is logged (escaped,
    /// and [`LINE_COST`] for the event); otherwise counts it dropped.
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = lucet_module::escape_control(text.trim_end_matches('\r'));
        if !self.reserve_all(text.len() + LINE_COST) {
            self.dropped += line.len() + 1;
            return;
        }
        if let Some(file) = &self.file {
            file.write_line(text.as_bytes());
            return;
        }
        let request = self.request_id();
        match &self.source {
            None => {
                tracing::info!(target: "lucet_serve::guest", request = %request, route = %self.route, "{text}")
            }
            Some(source) => {
                tracing::info!(target: "lucet_serve::guest", request = %request, route = %self.route, source = %source, "{text}")
            }
        }
    }
}

impl Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room.load(Ordering::Relaxed) == 0 {
            self.dropped += buf.len();
            return Ok(buf.len());
        }
        self.pending.extend_from_slice(buf);
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1]);
        }
        while self.pending.len() >= MAX_LINE {
            let line: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
            self.emit(&line);
        }
        // Everything counts as written: a chatty handler is cut short in
        // the log, not made to fail.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
        if self.dropped > 0 {
            tracing::warn!(
                target: "lucet_serve::guest",
                request = %self.request_id(),
                route = %self.route,
                "{} more bytes of {} dropped (the route's max-log-bytes)",
                self.dropped,
                self.source.as_deref().unwrap_or("standard error")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_refuses_writes_past_its_limit() {
        let mut c = Capture::new(10);
        assert_eq!(c.write(b"12345").unwrap(), 5);
        assert!(c.write(b"123456").is_err());
        assert_eq!(c.write(b"12345").unwrap(), 5);
        let got = c.lock();
        assert_eq!(got.bytes, b"1234512345");
        assert!(got.overflowed);
    }

    #[test]
    fn streams_of_one_request_share_its_log_budget() {
        // Room for one line of 6 bytes (and its event), not two.
        let room = Arc::new(AtomicUsize::new(LINE_COST + 10));
        let mut a = LogLines::sharing("1", "/", room.clone()).labelled("a");
        let mut b = LogLines::sharing("1", "/", room.clone()).labelled("b");
        a.write_all(b"123456\n").unwrap();
        b.write_all(b"123456\n").unwrap();
        assert_eq!(room.load(Ordering::Relaxed), 0);
        assert_eq!((a.dropped, b.dropped), (0, 7));
        // Spent: what comes next is dropped without being looked at.
        a.write_all(b"more\n").unwrap();
        assert_eq!(a.dropped, 5);
    }

    #[test]
    fn empty_lines_cost_an_event_each() {
        // 64 KiB of newlines: once 65,536 log events; now what the budget
        // holds of events (1,024 of them), the rest dropped.
        let dir = std::env::temp_dir().join(format!("lucet-log-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.log");
        let _ = std::fs::remove_file(&path);
        let file = LogFile::open(&path).unwrap();
        let mut lines = LogLines::new("1", "/", 64 << 10).into_file(file.clone());
        lines.write_all(&[b'\n'; 64 << 10]).unwrap();
        let dropped = lines.dropped;
        drop(lines);
        drop(file);
        assert_eq!(dropped, (64 << 10) - 1024);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let n = std::fs::read(&path).unwrap_or_default().len();
            if n == 1024 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{n} lines");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
