//! Renders a generated CommonMark document (headings, paragraphs with
//! emphasis, links and code, nested lists, block quotes, code blocks) to
//! HTML, several times, and prints the size and a digest of the HTML.

include!("../../bench.rs");

const WORDS: &[&str] = &[
    "lucet", "wasm", "module", "instance", "memory", "table", "function", "guest", "host",
    "compile", "run", "trap", "stack", "region", "slot", "edge", "request", "fresh", "isolated",
    "fast", "the", "a", "of", "and", "to", "in", "with", "every", "each", "code",
];

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = 6 + rng.below(12);
    for i in 0..n {
        let w = rng.pick(WORDS);
        match rng.below(20) {
            0 => out.push_str(&format!("*{w}*")),
            1 => out.push_str(&format!("**{w}**")),
            2 => out.push_str(&format!("`{w}()`")),
            3 => out.push_str(&format!("[{w}](https://example.com/{w}/{i})")),
            _ => out.push_str(w),
        }
        out.push(if i + 1 == n { '.' } else { ' ' });
    }
    out.push(' ');
}

fn document(rng: &mut Rng) -> String {
    let mut doc = String::new();
    for section in 0..120 {
        doc.push_str(&format!("## Section {section}: {}\n\n", rng.pick(WORDS)));
        for _ in 0..3 {
            for _ in 0..4 {
                sentence(rng, &mut doc);
            }
            doc.push_str("\n\n");
        }
        for item in 0..6 {
            doc.push_str(&format!("- item {item}: "));
            sentence(rng, &mut doc);
            doc.push('\n');
            if item % 2 == 0 {
                doc.push_str("  1. nested ");
                sentence(rng, &mut doc);
                doc.push('\n');
            }
        }
        doc.push_str("\n> ");
        sentence(rng, &mut doc);
        doc.push_str("\n\n```rust\nfn f(x: u32) -> u32 {\n    x * 2 + 1\n}\n```\n\n");
    }
    doc
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let doc = document(&mut rng);
    bench_start();
    let mut total = 0;
    let mut digest: u64 = 0;
    for _ in 0..48 {
        let parser = pulldown_cmark::Parser::new_ext(&doc, pulldown_cmark::Options::all());
        let mut html = String::with_capacity(doc.len() * 2);
        pulldown_cmark::html::push_html(&mut html, parser);
        total += html.len();
        digest = fnv1a(html.as_bytes()) ^ digest.rotate_left(1);
    }
    bench_end();
    println!("markdown: {} bytes in, {total} bytes of HTML, digest {digest:016x}", doc.len());
}
