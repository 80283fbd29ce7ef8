//! Interleaved sampling: each sample times a batch of iterations of one
//! side, then of the other, so that both see the same machine conditions.

use std::time::Instant;

/// Per-iteration times of one side, in nanoseconds.
#[derive(Debug, Clone)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// Statistics of samples (nanoseconds per iteration).
    pub fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(|a, b| a.total_cmp(b));
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        Stats {
            median,
            min: samples[0],
            max: samples[n - 1],
        }
    }
}

/// Times `iters` calls of `f`; nanoseconds per call.
pub fn time_batch(iters: u64, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Measures `a` and (if given) `b`, interleaved: `samples` samples of
/// `iters` iterations each, after one warm-up batch each.
pub fn interleaved(
    samples: usize,
    iters: u64,
    a: &mut dyn FnMut(),
    mut b: Option<&mut dyn FnMut()>,
) -> (Stats, Option<Stats>) {
    time_batch(iters.div_ceil(10), a);
    if let Some(b) = b.as_deref_mut() {
        time_batch(iters.div_ceil(10), b);
    }
    let mut sa = Vec::with_capacity(samples);
    let mut sb = Vec::with_capacity(samples);
    for _ in 0..samples {
        sa.push(time_batch(iters, a));
        if let Some(b) = b.as_deref_mut() {
            sb.push(time_batch(iters, b));
        }
    }
    (Stats::of(sa), (!sb.is_empty()).then(|| Stats::of(sb)))
}
