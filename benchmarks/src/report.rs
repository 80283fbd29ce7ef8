//! Report rows: a table for people, JSON for scripts.

use crate::stats::Stats;

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub lucet: Stats,
    pub peer: Option<Stats>,
    /// For density rows: live instances and RSS per instance (Lucet, peer).
    pub density: Option<Density>,
}

/// Memory per live instance.
#[derive(Debug, Clone)]
pub struct Density {
    /// What is counted: "instance", "module".
    pub per: &'static str,
    pub instances: usize,
    pub lucet_rss_per_instance: f64,
    pub peer_rss_per_instance: Option<f64>,
}

impl Row {
    /// Lucet / peer, medians.
    pub fn ratio(&self) -> Option<f64> {
        if let Some(d) = &self.density {
            return d
                .peer_rss_per_instance
                .map(|p| d.lucet_rss_per_instance / p);
        }
        self.peer.as_ref().map(|p| self.lucet.median / p.median)
    }
}

/// A human-friendly duration.
pub fn duration(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn stats_cell(s: &Stats) -> String {
    format!(
        "{} ({}–{})",
        duration(s.median),
        duration(s.min),
        duration(s.max)
    )
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| benchmark | lucet median (min–max) | wasmtime median (min–max) | lucet/wasmtime |\n|---|---|---|---|\n",
    );
    for r in rows {
        let (l, p) = match &r.density {
            Some(d) => (
                format!(
                    "{} per {} ({} held)",
                    bytes(d.lucet_rss_per_instance),
                    d.per,
                    d.instances
                ),
                d.peer_rss_per_instance
                    .map_or("—".to_string(), |p| format!("{} per {}", bytes(p), d.per)),
            ),
            None => (
                stats_cell(&r.lucet),
                r.peer.as_ref().map_or("—".to_string(), stats_cell),
            ),
        };
        let ratio = r.ratio().map_or("—".to_string(), |x| format!("{x:.2}"));
        out.push_str(&format!("| {} | {l} | {p} | {ratio} |\n", r.name));
    }
    out
}

/// The rows as JSON: one object per row.
pub fn json(rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                let mut o = serde_json::json!({
                    "name": r.name,
                    "lucet_ns": r.lucet.median,
                    "lucet_min_ns": r.lucet.min,
                    "lucet_max_ns": r.lucet.max,
                    "peer_ns": r.peer.as_ref().map(|p| p.median),
                    "peer_min_ns": r.peer.as_ref().map(|p| p.min),
                    "peer_max_ns": r.peer.as_ref().map(|p| p.max),
                    "ratio": r.ratio(),
                });
                if let Some(d) = &r.density {
                    o["instances"] = d.instances.into();
                    o["rss_bytes_per_instance"] = d.lucet_rss_per_instance.into();
                    o["peer_rss_bytes_per_instance"] = d.peer_rss_per_instance.into();
                }
                o
            })
            .collect(),
    )
}
