//! A file that a handler's log lines go to (a Compute app's log endpoint
//! named in its route's `log-files`), written by a thread of its own: a
//! handler never waits on the disk. Lines wait in a bounded queue; when
//! the writer is that far behind, lines are dropped and counted, and the
//! count is logged once the writer catches up.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Lines that may wait for a file's writer.
const QUEUE: usize = 4096;

/// A log file, open for appending.
pub(crate) struct LogFile {
    lines: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for LogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFile").finish_non_exhaustive()
    }
}

impl LogFile {
    /// Opens `path` for appending (creating it), with its writer thread.
    /// The error is one line.
    pub fn open(path: &Path) -> Result<Arc<LogFile>, String> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("log file {}: {e}", path_text(path)))?;
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let owned = path.to_path_buf();
        let counter = dropped.clone();
        std::thread::Builder::new()
            .name("lucet-log-file".into())
            .spawn(move || write_lines(file, &owned, rx, &counter))
            .map_err(|e| format!("log file {}: no writer thread: {e}", path_text(path)))?;
        Ok(Arc::new(LogFile { lines: tx, dropped }))
    }

    /// Queues `line` (a newline is added); dropped if the writer is too
    /// far behind.
    pub fn write_line(&self, line: &[u8]) {
        let mut record = Vec::with_capacity(line.len() + 1);
        record.extend_from_slice(line);
        record.push(b'\n');
        match self.lines.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn path_text(path: &Path) -> String {
    lucet_module::escape_control(&path.display().to_string())
}

/// The writer: lines as they come, flushed whenever the queue is empty,
/// until every sender is gone.
fn write_lines(file: File, path: &Path, rx: Receiver<Vec<u8>>, dropped: &AtomicU64) {
    let mut out = BufWriter::new(file);
    let mut failed = false;
    while let Ok(line) = rx.recv() {
        let mut result = out.write_all(&line);
        while let Ok(line) = rx.try_recv() {
            result = result.and_then(|()| out.write_all(&line));
        }
        result = result.and_then(|()| out.flush());
        match result {
            Err(e) if !failed => {
                tracing::warn!(file = %path_text(path), "cannot write a log file: {e}");
                failed = true;
            }
            Err(_) => {}
            Ok(()) => failed = false,
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(file = %path_text(path), lost, "log lines dropped: the file's writer was behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_file_in_order() {
        let dir = std::env::temp_dir().join(format!("lucet-log-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.log");
        let _ = std::fs::remove_file(&path);
        let f = LogFile::open(&path).unwrap();
        for i in 0..100 {
            f.write_line(format!("line {i}").as_bytes());
        }
        drop(f);
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text == expected {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text:?}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_one_line() {
        let e = LogFile::open(Path::new("/nonexistent-dir/x.log")).unwrap_err();
        assert!(e.starts_with("log file /nonexistent-dir/x.log: "), "{e}");
        assert_eq!(e.lines().count(), 1);
    }
}
