//! The load generator: a fixed number of keep-alive HTTP/1.1 connections
//! (hyper's client), each sending GETs back to back for a fixed time;
//! every response's status and body are checked; latencies go into an
//! HdrHistogram.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Requests answered as expected in the measured span.
    pub requests: u64,
    /// Requests that failed or were answered otherwise.
    pub errors: u64,
    /// Requests per second.
    pub rps: f64,
    /// Latency percentiles, in microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// Loads `addr` with `connections` connections sending `GET path` for
/// `warmup` (not measured) and then `duration`; a response counts if its
/// status is 200 and its body is `expect_len` bytes.
pub fn run(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    expect_len: usize,
    threads: usize,
) -> LoadResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let start = Instant::now() + warmup;
        let end = start + duration;
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let path = path.to_string();
                tokio::spawn(connection(addr, path, start, end, expect_len))
            })
            .collect();
        let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        let mut errors = 0;
        for t in tasks {
            let (h, e) = t.await.expect("a load task");
            total.add(&h).expect("same bounds");
            errors += e;
        }
        let requests = total.len();
        LoadResult {
            requests,
            errors,
            rps: requests as f64 / duration.as_secs_f64(),
            p50_us: total.value_at_quantile(0.50) as f64,
            p99_us: total.value_at_quantile(0.99) as f64,
            p999_us: total.value_at_quantile(0.999) as f64,
        }
    })
}

/// One connection's loop; reconnects after an error.
async fn connection(
    addr: SocketAddr,
    path: String,
    start: Instant,
    end: Instant,
    expect_len: usize,
) -> (Histogram<u64>, u64) {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut errors = 0;
    while Instant::now() < end {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
        else {
            errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < end {
            let req = Request::get(path.as_str())
                .header("host", "bench")
                .body(Empty::new())
                .expect("a request");
            let t = Instant::now();
            let ok = match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.into_body().collect().await {
                        Ok(b) => status == 200 && b.to_bytes().len() == expect_len,
                        Err(_) => false,
                    }
                }
                Err(_) => false,
            };
            let took = t.elapsed();
            if t < start {
                continue;
            }
            if ok {
                let _ = h.record((took.as_micros() as u64).max(1));
            } else {
                errors += 1;
                break;
            }
        }
    }
    (h, errors)
}
