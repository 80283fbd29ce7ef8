//! WAGI test handler: echoes the request back as text/plain.
//!
//! Output: `Content-Type: text/plain`, `X-Handler: rust`, a blank line, then
//! `method=REQUEST_METHOD`, `path=PATH_INFO`, `query=QUERY_STRING`,
//! `args=` argv[1..] joined by `,`, and `body=` followed by the raw body read
//! from stdin (no newline added). Unset variables print as empty.

use std::env;
use std::io::{self, Read, Write};
use std::process::ExitCode;

fn var(name: &str) -> String {
    env::var_os(name)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let mut body = Vec::new();
    if let Err(e) = io::stdin().lock().read_to_end(&mut body) {
        eprintln!("rust_echo: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();

    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"Content-Type: text/plain\nX-Handler: rust\n\n");
    out.extend_from_slice(
        format!(
            "method={}\npath={}\nquery={}\nargs={}\nbody=",
            var("REQUEST_METHOD"),
            var("PATH_INFO"),
            var("QUERY_STRING"),
            args.join(",")
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);

    let mut stdout = io::stdout().lock();
    match stdout.write_all(&out).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rust_echo: writing stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
