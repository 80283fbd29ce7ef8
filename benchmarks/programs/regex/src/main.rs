//! Counts the matches of several regular expressions (literals,
//! alternations, classes, case-insensitive words, captures) over generated
//! text, and prints the counts.

include!("../../bench.rs");

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "error", "warning", "info", "request", "response",
    "timeout", "Lucet", "wasm", "server", "client", "GET", "POST", "status", "ok", "failed",
];

fn text(rng: &mut Rng) -> String {
    let mut t = String::new();
    while t.len() < 1 << 20 {
        match rng.below(10) {
            0 => t.push_str(&format!(
                "user{}@{}.example.org ",
                rng.below(1000),
                rng.pick(WORDS).to_lowercase()
            )),
            1 => t.push_str(&format!(
                "2026-{:02}-{:02}T{:02}:{:02}:{:02}Z ",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            )),
            2 => t.push_str(&format!("status={} ", 100 + rng.below(500))),
            3 => t.push('\n'),
            _ => {
                t.push_str(rng.pick(WORDS));
                t.push(' ');
            }
        }
    }
    t
}

fn main() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let text = text(&mut rng);
    let patterns = [
        r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}",
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
        r"status=(4\d\d|5\d\d)",
        r"(?i)\b(error|warning|failed)\b",
        r"\b(GET|POST) [a-z]+",
        r"(?m)^timeout.*$",
    ];
    let regexes: Vec<regex::Regex> = patterns
        .iter()
        .map(|p| regex::Regex::new(p).expect("valid pattern"))
        .collect();
    bench_start();
    let mut counts = vec![0; regexes.len()];
    // Each pattern over every 64 KiB window of the text, and over all of it.
    for window in text.as_bytes().chunks(16 << 10) {
        let window = std::str::from_utf8(window).unwrap_or("");
        for (re, count) in regexes.iter().zip(&mut counts) {
            *count += re.find_iter(window).count();
        }
    }
    for _ in 0..4 {
        for (re, count) in regexes.iter().zip(&mut counts) {
            *count += re.find_iter(&text).count();
        }
    }
    let captured: usize = regexes[2]
        .captures_iter(&text)
        .map(|c| c[1].len())
        .sum();
    bench_end();
    println!("regex: {} bytes, counts {counts:?}, captured {captured}", text.len());
}
