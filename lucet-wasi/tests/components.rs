//! Components run by `lucet-wasi`: a command built with Rust's
//! `wasm32-wasip2` target (`examples/components`), and one written by hand
//! to drive the host's canonical ABI where toolchains' components do not
//! go (`tests/components/args.wat`).

use std::path::Path;
use std::process::{Command, Output};

fn lucet_wasi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .args(args)
        .output()
        .expect("run lucet-wasi")
}

fn path(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_rust_command_component_runs() {
    let hello = path("../examples/components/hello-cli.wasm");
    let out = lucet_wasi(&[
        "--env",
        "HELLO_NAME=lucet",
        "--env",
        "OTHER=hidden",
        &hello,
        "a",
        "b c",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "hello from a component\narg 1: a\narg 2: b c\nenv HELLO_NAME=lucet\n"
    );
    assert_eq!(stderr(&out), "a line on standard error\n");

    // `std::process::exit(3)` is `wasi:cli/exit.exit(err)`: status 1, as
    // under other WASI 0.2 runtimes.
    let out = lucet_wasi(&[&hello, "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("arg 1: 3\n"));
    let out = lucet_wasi(&[&hello, "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_command_component_works_with_files_in_its_directory_only() {
    let root = std::env::temp_dir().join(format!("lucet-wasi-fs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("in.txt"), "hello files\n").unwrap();
    std::fs::write(root.join("escape.txt"), "secret\n").unwrap();
    let dir = format!("{}::/data", data.display());
    let out = lucet_wasi(&[
        "--dir",
        &dir,
        &path("../examples/components/hello-cli.wasm"),
        "files",
        "/data",
    ]);
    let result = std::fs::read_dir(&data).map(|d| d.count());
    let _ = std::fs::remove_dir_all(&root);
    assert!(out.status.success(), "{}", stderr(&out));
    // What `wasmtime run --dir` prints for the same program.
    assert_eq!(
        stdout(&out),
        "read 12 bytes\n\
         from offset 6: \"FILES\\nappended\\n\"\n\
         size 21\n\
         /data: in.txt (file), out (dir)\n\
         /data/out: result.txt (file)\n\
         /data/../escape.txt: PermissionDenied\n\
         /etc/passwd: NotFound\n\
         remove out: Uncategorized\n\
         cleaned up\n"
    );
    // It cleaned up after itself: only its input is left.
    assert_eq!(result.unwrap(), 1);
}

#[test]
fn a_component_using_sockets_runs_and_is_given_no_network() {
    let hello = path("../examples/components/hello-cli.wasm");
    // What `wasmtime run` (without network flags) prints too.
    let out = lucet_wasi(&[&hello, "connect", "127.0.0.1:9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "resolved: 1 addresses\nconnect: PermissionDenied\n"
    );
    let out = lucet_wasi(&[&hello, "connect", "localhost:80"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "resolve: Uncategorized\n");
}

#[test]
fn strings_reach_the_guest_in_the_encoding_it_asks_for() {
    let text = std::fs::read_to_string(path("tests/components/strings.wat")).unwrap();
    let dir = std::env::temp_dir().join(format!("lucet-wasi-strings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |encoding: &str, utf16: bool, arg: &str| {
        let file = dir.join(format!("{}.wat", encoding.replace(['=', '+'], "-")));
        let flag = if utf16 { "\\01" } else { "\\00" };
        std::fs::write(
            &file,
            text.replace("ENCODING", encoding).replace("UTF16", flag),
        )
        .unwrap();
        let out = lucet_wasi(&[file.to_str().unwrap(), arg]);
        assert!(out.status.success(), "{encoding}: {}", stderr(&out));
        out.stdout
    };
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let with_len = |len: u32, bytes: Vec<u8>| [len.to_le_bytes().to_vec(), bytes].concat();
    // UTF-16: code units, the surrogate pair two of them.
    assert_eq!(
        run("string-encoding=utf16", true, "hé𝄞"),
        with_len(4, utf16("hé𝄞"))
    );
    // latin1+utf16: Latin-1 where it fits; else UTF-16, the length tagged.
    assert_eq!(
        run("string-encoding=latin1+utf16", false, "café"),
        with_len(4, b"caf\xe9".to_vec())
    );
    assert_eq!(
        run("string-encoding=latin1+utf16", false, "€1"),
        with_len(2 | 1 << 31, utf16("€1"))
    );
    // UTF-8, the default, unchanged.
    assert_eq!(
        run("string-encoding=utf8", false, "café"),
        with_len(5, "café".as_bytes().to_vec())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn results_that_allocate_reach_the_guest_whole() {
    // The arguments come back as a list of strings: one block for the
    // list and one per string, the empty one included, each allocated by
    // the guest's realloc before the host writes.
    let out = lucet_wasi(&[
        &path("tests/components/args.wat"),
        "ok",
        "two words",
        "",
        "é",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\ntwo words\n\né\n");
}

#[test]
fn a_guest_that_breaks_the_rules_is_stopped_with_one_line() {
    for (mode, says) in [
        ("drop-twice", "handle 0x1 names no live resource"),
        ("wild", "100 bytes at 0xfffffff0 lie outside guest memory"),
        ("stolen", "handle 0x3039 names no live resource"),
        ("mistyped", "is of type output-stream, not input-stream"),
        // The component's function names survive the merge.
        ("trap", "trap: unreachable in \"explode\""),
        // The post-return function runs after `run` returns.
        ("post-trap", "trap: unreachable in \"after\""),
    ] {
        let out = lucet_wasi(&[&path("tests/components/args.wat"), mode]);
        assert_eq!(out.status.code(), Some(1), "{mode}");
        let err = stderr(&out);
        assert!(err.starts_with("error: "), "{mode}: {err}");
        assert!(err.contains(says), "{mode}: {err}");
        assert_eq!(err.lines().count(), 1, "{mode}: {err}");
        // What ran before the fault was written.
        assert_eq!(stdout(&out), format!("{mode}\n"));
    }
}

#[test]
fn an_http_component_is_not_a_command() {
    let out = lucet_wasi(&[&path("../examples/components/hello-http.wasm")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("serve it with lucet-serve"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // And a command cannot be invoked as a module.
    let out = lucet_wasi(&[
        "--invoke",
        "run",
        &path("../examples/components/hello-cli.wasm"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("component"), "{}", stderr(&out));
}

#[test]
fn a_function_declared_short_of_its_parameters_is_an_error_not_a_panic() {
    let out = lucet_wasi(&[&path("tests/components/short.wat")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("has 1 parameters, not 2"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A writer whose bytes the test reads afterwards.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `hello-cli files /data` through the library, with a fresh
/// directory holding `in.txt` as `/data` (with `access`), and at most
/// `max_open_files` open: its standard output and error, how it ended,
/// and the names left in the directory.
fn files_through_the_library(
    access: lucet_wasi::DirAccess,
    max_open_files: usize,
) -> (
    String,
    String,
    lucet_runtime::Outcome,
    Vec<std::ffi::OsString>,
) {
    use lucet_runtime::{Limits, Linker, MmapRegion, RunPolicy, Watchdog};
    use lucet_wasi::{Stream, WasiCtxBuilder};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RUN: AtomicUsize = AtomicUsize::new(0);
    let root = std::env::temp_dir().join(format!(
        "lucet-wasi-lib-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("in.txt"), "hello files\n").unwrap();
    let dir = cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap();

    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    lucet_wasi::component::add_to_linker(&mut linker);
    let module = lucet_runtime::load_module(
        Path::new(&path("../examples/components/hello-cli.wasm")),
        &linker,
    )
    .expect("hello-cli loads");
    let entry = lucet_wasi::component::command_entry(module.component().unwrap())
        .unwrap()
        .export
        .clone();
    let (out, err) = (Captured::default(), Captured::default());
    let ctx = WasiCtxBuilder::new()
        .args(["hello-cli", "files", "/data"])
        .stdout(Stream::Writer(Box::new(out.clone())))
        .stderr(Stream::Writer(Box::new(err.clone())))
        .preopened(dir, "/data", access)
        .max_open_files(max_open_files)
        .build();
    let limits = Limits {
        heap_memory_size: 64 << 20,
        ..Limits::default()
    }
    .sized_for(&module);
    let region = MmapRegion::create(1, &limits).unwrap();
    let builder = region
        .new_instance_builder(module.clone())
        .with_embed_ctx(lucet_wasi::component::ComponentCtx::new(ctx));
    let finished = RunPolicy::default().run(builder, &entry, &[], &Watchdog::new());
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let _ = std::fs::remove_dir_all(&root);
    (out.text(), err.text(), finished.outcome, names)
}

#[test]
fn a_read_only_directory_lets_a_component_read_and_change_nothing() {
    let (out, err, outcome, names) = files_through_the_library(lucet_wasi::DirAccess::ReadOnly, 64);
    // It read its input, then could not make a directory: it said so and
    // failed, and nothing changed.
    assert_eq!(out, "read 12 bytes\n", "{err} {outcome}");
    assert!(err.starts_with("files: "), "{err}");
    assert!(
        matches!(outcome, lucet_runtime::Outcome::Exited(c) if c != 0),
        "{outcome}"
    );
    assert_eq!(names, ["in.txt"]);
    // Read-write, it does all it does under `lucet-wasi --dir`.
    let (out, err, outcome, names) =
        files_through_the_library(lucet_wasi::DirAccess::ReadWrite, 64);
    assert!(out.ends_with("cleaned up\n"), "{out} {err} {outcome}");
    assert_eq!(names, ["in.txt"]);
}

#[test]
fn a_component_has_at_most_its_open_file_limit_open() {
    // The preopened directory takes the only place: opening its input
    // fails, and the program says so.
    let (out, err, outcome, _) = files_through_the_library(lucet_wasi::DirAccess::ReadWrite, 1);
    assert_eq!(out, "", "{err} {outcome}");
    assert!(err.starts_with("files: "), "{err}");
}
