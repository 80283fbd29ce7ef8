//! A file that a handler's log lines go to (a Compute app's log endpoint
//! named in its route's `log-files`), written by a thread of its own: a
//! handler never waits on the disk. Lines wait in a bounded queue; when
//! the writer is that far behind, lines are dropped and counted, and the
//! count is logged once the writer catches up.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use crate::line_writer::LineWriter;

/// Lines that may wait for a file's writer.
const QUEUE: usize = 4096;

/// A log file, open for appending.
#[derive(Debug)]
pub(crate) struct LogFile {
    writer: LineWriter,
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
        let writer = LineWriter::start(Box::new(file), path_text(path), QUEUE)
            .map_err(|e| format!("log file {}: no writer thread: {e}", path_text(path)))?;
        Ok(Arc::new(LogFile { writer }))
    }

    /// Queues `line` (a newline is added); dropped if the writer is too
    /// far behind.
    pub fn write_line(&self, line: &[u8]) {
        self.writer.write_line(line);
    }
}

fn path_text(path: &Path) -> String {
    lucet_module::escape_control(&path.display().to_string())
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
