//! The access log: one JSON object per line per request.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

pub(crate) struct AccessLogger {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl AccessLogger {
    pub fn open(to: &AccessLog) -> Result<AccessLogger, Error> {
        let sink: Option<Box<dyn Write + Send>> = match to {
            AccessLog::Stdout => Some(Box::new(io::stdout())),
            AccessLog::Off => None,
            AccessLog::File(path) => Some(Box::new(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::AccessLog {
                        path: path.display().to_string(),
                        source,
                    })?,
            )),
        };
        Ok(AccessLogger {
            sink: sink.map(Mutex::new),
        })
    }

    pub fn log(&self, e: &Entry<'_>) {
        let Some(sink) = &self.sink else { return };
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
        let mut text = line.to_string();
        text.push('\n');
        let mut w = sink.lock().unwrap_or_else(|p| p.into_inner());
        // A log that cannot be written must not fail the request.
        let _ = w.write_all(text.as_bytes());
        let _ = w.flush();
    }
}
