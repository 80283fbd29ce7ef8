//! Serializes generated records to JSON, parses them back (as untyped
//! values and as typed structs), and prints sums over the results.

include!("../../bench.rs");

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Request {
    id: u64,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    status: u16,
    latency_ms: f64,
    tags: Vec<String>,
    ok: bool,
}

const WORDS: &[&str] = &["api", "v1", "users", "items", "orders", "search", "static", "health"];

fn requests(rng: &mut Rng) -> Vec<Request> {
    (0..6000)
        .map(|id| Request {
            id,
            method: rng.pick(&["GET", "POST", "PUT", "DELETE"]).to_string(),
            path: format!("/{}/{}/{}", rng.pick(WORDS), rng.pick(WORDS), rng.below(10000)),
            headers: (0..rng.below(6))
                .map(|i| (format!("x-header-{i}"), rng.pick(WORDS).to_string()))
                .collect(),
            status: [200, 201, 204, 301, 404, 500][rng.below(6) as usize],
            latency_ms: rng.below(1_000_000) as f64 / 1000.0,
            tags: (0..rng.below(4)).map(|_| rng.pick(WORDS).to_string()).collect(),
            ok: rng.below(10) != 0,
        })
        .collect()
}

fn main() {
    let mut rng = Rng(0x8f3a_4b21_d37c_9e05);
    let reqs = requests(&mut rng);
    bench_start();
    let mut text_len = 0;
    let mut statuses = 0u64;
    let mut latency = 0.0;
    for _ in 0..6 {
        let text = serde_json::to_string(&reqs).expect("serializes");
        text_len += text.len();
        let untyped: serde_json::Value = serde_json::from_str(&text).expect("parses");
        statuses += untyped
            .as_array()
            .expect("an array")
            .iter()
            .filter_map(|r| r["status"].as_u64())
            .sum::<u64>();
        let typed: Vec<Request> = serde_json::from_str(&text).expect("parses");
        latency += typed.iter().map(|r| r.latency_ms).sum::<f64>();
    }
    bench_end();
    println!("json: {text_len} bytes, status sum {statuses}, latency sum {latency:.3}");
}
