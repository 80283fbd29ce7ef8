//! Lines written by a thread of their own (the access log, a Compute app's
//! log files): whoever logs never waits on the disk or on a reader of
//! standard output. Lines wait in a bounded queue; past it they are
//! dropped and counted, and the count is logged once the writer catches
//! up. A writer blocked in one write for long is seen as stalled.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A sink and its writer thread.
pub(crate) struct LineWriter {
    lines: SyncSender<Message>,
    shared: Arc<Shared>,
}

/// What the writer gets.
enum Message {
    Line(Vec<u8>),
    /// Answered once every line before it is written.
    Sync(SyncSender<()>),
}

struct Shared {
    /// Dropped since the writer last said so.
    dropped: AtomicU64,
    /// Dropped in all.
    dropped_total: AtomicU64,
    /// When the writer began the write it is in, as nanoseconds after
    /// `epoch` plus one; 0 when it waits for lines.
    busy_since: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineWriter").finish_non_exhaustive()
    }
}

impl LineWriter {
    /// Writes to `sink` (named `name` in the server's log) from a thread of
    /// its own, `queue` lines at most waiting.
    pub fn start(
        sink: Box<dyn Write + Send>,
        name: String,
        queue: usize,
    ) -> std::io::Result<LineWriter> {
        let (tx, rx) = sync_channel(queue);
        let shared = Arc::new(Shared {
            dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("lucet-log-writer".into())
            .spawn(move || write_lines(sink, &name, rx, &theirs))?;
        Ok(LineWriter { lines: tx, shared })
    }

    /// Queues `line` (a newline is added); dropped if the writer is too
    /// far behind.
    pub fn write_line(&self, line: &[u8]) {
        let mut record = Vec::with_capacity(line.len() + 1);
        record.extend_from_slice(line);
        record.push(b'\n');
        match self.lines.try_send(Message::Line(record)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared.dropped_total.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits (at most `timeout`) until the lines queued so far are written:
    /// whether they were.
    pub fn sync(&self, timeout: Duration) -> bool {
        let (tx, rx) = sync_channel(1);
        if self.lines.try_send(Message::Sync(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(timeout).is_ok()
    }

    /// Lines dropped so far.
    pub fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// How long the writer has been in its current write, if it is in one.
    pub fn busy_for(&self) -> Option<Duration> {
        let since = self.shared.busy_since.load(Ordering::Relaxed);
        (since != 0).then(|| {
            self.shared
                .epoch
                .elapsed()
                .saturating_sub(Duration::from_nanos(since - 1))
        })
    }
}

/// The writer: lines as they come, flushed whenever the queue is empty,
/// until every sender is gone.
fn write_lines(sink: Box<dyn Write + Send>, name: &str, rx: Receiver<Message>, shared: &Shared) {
    let mut out = BufWriter::new(sink);
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let began = u64::try_from(shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        shared.busy_since.store(began + 1, Ordering::Relaxed);
        let mut syncs = Vec::new();
        let mut result = Ok(());
        for message in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match message {
                Message::Line(line) => result = result.and_then(|()| out.write_all(&line)),
                Message::Sync(done) => syncs.push(done),
            }
        }
        result = result.and_then(|()| out.flush());
        shared.busy_since.store(0, Ordering::Relaxed);
        for done in syncs {
            let _ = done.try_send(());
        }
        match result {
            Err(e) if !failed => {
                tracing::warn!(log = %name, "cannot write a log: {e}");
                failed = true;
            }
            Err(_) => {}
            Ok(()) => failed = false,
        }
        let lost = shared.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(log = %name, lost, "log lines dropped: the log's writer was behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A sink that blocks until told to go on.
    struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>, Arc<Mutex<Vec<u8>>>);

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_sink_drops_lines_instead_of_holding_the_caller() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let written = Arc::new(Mutex::new(Vec::new()));
        let w = LineWriter::start(
            Box::new(Gate(gate.clone(), written.clone())),
            "test".into(),
            4,
        )
        .unwrap();
        let started = Instant::now();
        for i in 0..100 {
            w.write_line(format!("{i}").as_bytes());
        }
        assert!(started.elapsed() < Duration::from_secs(1), "never blocked");
        assert!(w.dropped_total() >= 90, "{}", w.dropped_total());
        // The writer is stuck in its first write.
        std::thread::sleep(Duration::from_millis(50));
        assert!(w.busy_for().is_some_and(|d| d >= Duration::from_millis(40)));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.busy_for().is_some() || written.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(written.lock().unwrap().starts_with(b"0\n"));
    }
}
