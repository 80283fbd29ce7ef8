//! The access log: one JSON object per line per request.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::line_writer::LineWriter;
use crate::Error;

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessLog {
    /// Standard output.
    #[default]
    Stdout,
    /// Appended to a file.
    File(PathBuf),
    /// Nowhere.
    Off,
}

/// One request, as logged.
pub(crate) struct Entry<'a> {
    pub id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
    pub outcome: &'a str,
}

/// Lines of the access log that may wait for its writer; past them, lines
/// are dropped and counted.
const QUEUE: usize = 16_384;

/// How long the writer may be blocked in one write before the server
/// counts as stalled (`/healthz`).
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(5);

/// The access log, written by a thread of its own: requests are answered
/// whether or not its reader keeps up.
pub(crate) struct AccessLogger {
    writer: Option<LineWriter>,
}

impl AccessLogger {
    pub fn open(to: &AccessLog) -> Result<AccessLogger, Error> {
        let (sink, name): (Box<dyn Write + Send>, String) = match to {
            AccessLog::Stdout => (Box::new(io::stdout()), "standard output".into()),
            AccessLog::Off => return Ok(AccessLogger { writer: None }),
            AccessLog::File(path) => {
                let name = lucet_module::escape_control(&path.display().to_string());
                let file = File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::AccessLog {
                        path: name.clone(),
                        source,
                    })?;
                (Box::new(file), name)
            }
        };
        let writer =
            LineWriter::start(sink, format!("access log ({name})"), QUEUE).map_err(|source| {
                Error::AccessLog {
                    path: name.clone(),
                    source,
                }
            })?;
        Ok(AccessLogger {
            writer: Some(writer),
        })
    }

    /// Waits (at most `timeout`) until the lines logged so far are written.
    pub fn sync(&self, timeout: Duration) {
        if let Some(w) = &self.writer {
            w.sync(timeout);
        }
    }

    /// Lines dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.writer.as_ref().map_or(0, LineWriter::dropped_total)
    }

    /// Whether the writer has been blocked in one write for long.
    pub fn is_stalled(&self) -> bool {
        self.writer
            .as_ref()
            .and_then(LineWriter::busy_for)
            .is_some_and(|d| d >= STALLED_AFTER)
    }

    pub fn log(&self, e: &Entry<'_>) {
        let Some(writer) = &self.writer else { return };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let line = serde_json::json!({
            "time": (time * 1e3).round() / 1e3,
            "id": e.id,
            "method": e.method,
            "path": e.path,
            "route": e.route,
            "status": e.status,
            "bytes": e.bytes,
            "duration_us": e.duration.as_micros() as u64,
            "outcome": e.outcome,
        });
        writer.write_line(line.to_string().as_bytes());
    }
}
