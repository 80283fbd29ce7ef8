//! Counters for `/metrics`, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// What the server has done since it started.
#[derive(Default)]
pub struct Metrics {
    /// Requests answered, by route and status.
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    /// Traps, by trap code.
    traps: Mutex<BTreeMap<String, u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    timeouts: AtomicU64,
    overloaded: AtomicU64,
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
}

/// Values read at the time of the scrape.
pub struct Gauges {
    /// Requests waiting for a worker.
    pub queue_depth: usize,
    /// Instances alive: running, or suspended while they wait.
    pub live_instances: usize,
    /// Instances that may still start.
    pub free_slots: usize,
    /// Access log lines dropped because its writer was behind.
    pub access_log_dropped: u64,
    /// Request body bytes held for requests, all together.
    pub buffered_body_bytes: u64,
    /// Response bytes held for clients, all together.
    pub buffered_response_bytes: u64,
}

impl Metrics {
    /// Counts an answered request.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            // The route's entry exists after its first request: looked up
            // without allocating.
            let by_status = match requests.get_mut(route) {
                Some(m) => m,
                None => requests.entry(route.to_string()).or_default(),
            };
            *by_status.entry(status).or_default() += 1;
        }
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a trap.
    pub fn trap(&self, code: &str) {
        *self
            .traps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code.to_string())
            .or_default() += 1;
    }

    /// Counts a handler stopped at its deadline.
    pub fn timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused because every worker and the queue were
    /// busy.
    pub fn overloaded(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reload.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed_reloads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text format.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(
            &mut out,
            "lucet_requests_total",
            "Requests answered, by route and status.",
        );
        for (route, by_status) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (status, n) in by_status {
                let _ = writeln!(
                    out,
                    "lucet_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP lucet_request_duration_seconds Time from the request's headers to its response.\n# TYPE lucet_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "lucet_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "lucet_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nlucet_request_duration_seconds_sum {}\nlucet_request_duration_seconds_count {count}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        counter(
            &mut out,
            "lucet_traps_total",
            "Handlers that trapped, by trap.",
        );
        for (code, n) in self.traps.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "lucet_traps_total{{code=\"{}\"}} {n}", label(code));
        }
        for (name, help, v) in [
            (
                "lucet_timeouts_total",
                "Handlers stopped at their deadline.",
                &self.timeouts,
            ),
            (
                "lucet_overloaded_total",
                "Requests refused with 503: every worker busy and the queue full.",
                &self.overloaded,
            ),
            (
                "lucet_reloads_total",
                "Reloads that took effect.",
                &self.reloads,
            ),
            (
                "lucet_failed_reloads_total",
                "Reloads that failed.",
                &self.failed_reloads,
            ),
        ] {
            counter(&mut out, name, help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        for (name, help, v) in [
            (
                "lucet_queue_depth",
                "Requests waiting for a worker.",
                gauges.queue_depth,
            ),
            (
                "lucet_live_instances",
                "Instances alive: running, or suspended while they wait.",
                gauges.live_instances,
            ),
            (
                "lucet_free_slots",
                "Instances that may still start (max-instances less those alive).",
                gauges.free_slots,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let name = "lucet_buffered_body_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Request body bytes held for requests (max-buffered-body bounds them).\n# TYPE {name} gauge\n{name} {}",
            gauges.buffered_body_bytes
        );
        let name = "lucet_buffered_response_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Response bytes held for clients (max-buffered-response bounds them).\n# TYPE {name} gauge\n{name} {}",
            gauges.buffered_response_bytes
        );
        let name = "lucet_access_log_dropped_total";
        counter(
            &mut out,
            name,
            "Access log lines dropped because its writer was behind.",
        );
        let _ = writeln!(out, "{name} {}", gauges.access_log_dropped);
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_counted() {
        let m = Metrics::default();
        m.request("/a", 200, Duration::from_micros(300));
        m.request("/a", 200, Duration::from_millis(2));
        m.request("/b\"", 500, Duration::from_secs(9));
        m.trap("unreachable");
        m.timeout();
        let text = m.render(&Gauges {
            queue_depth: 3,
            live_instances: 1,
            free_slots: 1,
            access_log_dropped: 7,
            buffered_body_bytes: 9,
            buffered_response_bytes: 11,
        });
        assert!(text.contains("lucet_buffered_body_bytes 9\n"));
        assert!(text.contains("lucet_access_log_dropped_total 7\n"));
        assert!(text.contains("lucet_requests_total{route=\"/a\",status=\"200\"} 2\n"));
        assert!(text.contains("lucet_requests_total{route=\"/b\\\"\",status=\"500\"} 1\n"));
        assert!(text.contains("lucet_request_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("lucet_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"));
        assert!(text.contains("lucet_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("lucet_traps_total{code=\"unreachable\"} 1\n"));
        assert!(text.contains("lucet_timeouts_total 1\n"));
        assert!(text.contains("lucet_queue_depth 3\n"));
    }
}
