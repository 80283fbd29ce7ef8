//! The `lucet-serve` binary: start-up errors, signals.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Scratch;

fn lucet_serve() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lucet-serve"))
}

/// Runs the binary to its end, which must come within 60 s.
fn fails(args: &[&str]) -> String {
    let out = lucet_serve()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    // 1 for errors of ours, 2 for clap's usage errors.
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{args:?}: {:?}",
        out.status
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One `error:` line, nothing else.
fn one_error_line(stderr: &str, want: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains(" INFO ")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(want), "want {want:?}: {stderr}");
}

#[test]
fn bad_modules_and_configs_are_one_error_line() {
    let dir = Scratch::new("cli-errors");
    let path = |n: &str| dir.path(n).display().to_string();
    std::fs::write(dir.path("lib.wat"), "(module (func (export \"f\")))").unwrap();
    std::fs::write(dir.path("bad.toml"), "listen = \"127.0.0.1:0\"\n[[route]]\npath = \"/\"\nmodule = \"m.wasm\"\nmax-heap = \"1MiB\"\n").unwrap();
    std::fs::write(dir.path("syntax.toml"), "[[route]\n").unwrap();
    one_error_line(
        &fails(&["--listen", "127.0.0.1:0", &path("missing.wasm")]),
        "route /...: cannot read",
    );
    one_error_line(
        &fails(&["--listen", "127.0.0.1:0", &path("lib.wat")]),
        "lib.wat: its imports and exports match no handler ABI (known: wagi, fastly, wasi-http;",
    );
    // A route may name its ABI; the module must fit it, and the name must
    // be one the server knows.
    let abi_route = |abi: &str| {
        format!("listen = \"127.0.0.1:0\"\n[[route]]\npath = \"/\"\nmodule = \"lib.wat\"\nabi = \"{abi}\"\n")
    };
    std::fs::write(dir.path("wagi.toml"), abi_route("wagi")).unwrap();
    std::fs::write(dir.path("nope.toml"), abi_route(r"nope\u001b")).unwrap();
    one_error_line(
        &fails(&["--config", &path("wagi.toml")]),
        "lib.wat: not a wagi handler: it exports no _start function",
    );
    one_error_line(
        &fails(&["--config", &path("nope.toml")]),
        r#"route /: unknown ABI "nope\u{1b}" (known: wagi, fastly, wasi-http)"#,
    );
    one_error_line(
        &fails(&["--config", &path("bad.toml")]),
        "bad.toml: route /: unknown field `max-heap`",
    );
    one_error_line(
        &fails(&["--config", &path("syntax.toml")]),
        "syntax.toml: line 1",
    );
    one_error_line(&fails(&["--config", &path("none.toml")]), "none.toml: ");
    one_error_line(
        &fails(&[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "0",
            &path("lib.wat"),
        ]),
        "--workers 0",
    );
    // The flags of the one-module form do not mix with a file.
    let e = fails(&["--config", &path("bad.toml"), "--timeout", "1s"]);
    assert!(e.contains("cannot be used with"), "{e}");
}

/// The server as a child process, and what it logs.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = lucet_serve()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("LUCET_LOG", "info")
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut r = Running {
            child,
            lines,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let line = r.wait_for("serving");
        let addr = line
            .split("addr=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap();
        r.addr = addr.parse().unwrap();
        r
    }

    fn wait_for(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => return l,
                Ok(_) => {}
                Err(_) => panic!("never logged {what:?}"),
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hello(text: &str) -> String {
    let response = format!("Content-Type: text/plain\n\n{text}\n");
    format!(
        "(module (import \"wasi_snapshot_preview1\" \"fd_write\" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export \"memory\") 1)
  (data (i32.const 0) \"\\10\\00\\00\\00\\{:02x}\\00\\00\\00\")
  (data (i32.const 16) \"{}\")
  (func (export \"_start\") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))",
        response.len(),
        response.replace('\n', "\\n")
    )
}

#[test]
fn sighup_reloads_and_sigterm_stops() {
    let dir = Scratch::new("cli-signals");
    std::fs::write(dir.path("h.wat"), hello("before")).unwrap();
    std::fs::write(
        dir.path("s.toml"),
        "listen = \"127.0.0.1:0\"\naccess-log = \"off\"\n[[route]]\npath = \"/...\"\nmodule = \"h.wat\"\n",
    )
    .unwrap();
    let config = dir.path("s.toml").display().to_string();
    let mut server = Running::start(&["--config", &config]);
    assert!(server.get("/").ends_with("\r\n\r\nbefore\n"));
    std::fs::write(dir.path("h.wat"), hello("after, longer")).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for("reloaded");
    assert!(server.get("/x").ends_with("\r\n\r\nafter, longer\n"));
    server.signal(libc::SIGTERM);
    server.wait_for("shutting down");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
