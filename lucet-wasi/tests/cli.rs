//! The `lucet-wasi` runner as users run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lucet_wasi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .args(args)
        .output()
        .expect("run lucet-wasi")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lucet-wasi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn invokes_the_bundled_example() {
    let out = lucet_wasi(&["--invoke", "fac", &example("fac.wat"), "10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "3628800\n");
}

#[test]
fn prints_every_result_on_its_own_line() {
    let m = temp(
        "multi.wat",
        r#"(module (func (export "f") (param i32 f64) (result i32 i64 f32 f64)
            (local.get 0) (i64.const -9000000000) (f32.const 0.5) (local.get 1)))"#,
    );
    let out = lucet_wasi(&["--invoke", "f", m.to_str().unwrap(), "-3", "2.25"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "-3\n-9000000000\n0.5\n2.25\n");
}

#[test]
fn references_are_printed_without_host_addresses() {
    let m = temp(
        "refs.wat",
        r#"(module
          (import "env" "f" (func $imp))
          (func $a) (func $b (result i32) (i32.const 1))
          (elem declare func $b $imp)
          (func (export "refs") (result funcref funcref funcref externref)
            (ref.func $b) (ref.func $imp) (ref.null func) (ref.null extern)))"#,
    );
    let out = lucet_wasi(&[
        "--default-unknown-imports",
        "--invoke",
        "refs",
        m.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Functions by index in the module's function index space.
    assert_eq!(stdout(&out), "ref.func 2\nref.func 0\nref.null\nref.null\n");
}

#[test]
fn names_the_guest_chose_are_escaped_in_errors() {
    let evil = "x\nerror: fake second line\x1b[31m";
    let m = temp(
        "evil.wat",
        r#"(module
          (import "env\nerror: fake" "x\u{1b}[31m" (func))
          (func (export "x\nerror: fake second line\u{1b}[31m") unreachable))"#,
    );
    // An unknown import, then (with it defaulted) a trap in the function.
    let out = lucet_wasi(&["--invoke", evil, m.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.ends_with(": unknown import env\\u{a}error: fake.x\\u{1b}[31m\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = lucet_wasi(&[
        "--default-unknown-imports",
        "--invoke",
        evil,
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: trap: unreachable in \"x\\u{a}error: fake second line\\u{1b}[31m\"\n"
    );
}

#[test]
fn a_trap_is_one_line_and_a_failure() {
    let m = temp(
        "div.wat",
        r#"(module (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))"#,
    );
    let out = lucet_wasi(&["--invoke", "div", m.to_str().unwrap(), "1", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: trap: integer divide by zero in \"div\"\n"
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn errors_before_the_guest_starts_are_one_line() {
    let bad = temp("bad.wat", "(module (func (result i32)))");
    // A function body with operators after its final `end`.
    let trailing = temp("trailing.wasm", "");
    std::fs::write(
        &trailing,
        [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f,
            0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x14, 0x01, 0x12, 0x00, 0x41, 0x00, 0x41,
            0x00, 0x0d, 0x00, 0x41, 0x00, 0x0f, 0x0b, 0x02, 0x40, 0x41, 0x00, 0x0f, 0x0b, 0x0b,
        ],
    )
    .unwrap();
    let fac = example("fac.wat");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["/nonexistent/m.wasm"],
            "cannot read /nonexistent/m.wasm",
        ),
        (vec![bad.to_str().unwrap()], "invalid module"),
        (
            vec![trailing.to_str().unwrap()],
            "operators remaining after end of function",
        ),
        (
            vec!["--invoke", "nope", &fac],
            "exports no function \"nope\"",
        ),
        (vec!["--invoke", "fac", &fac], "takes 1 argument(s)"),
        (
            vec!["--invoke", "fac", &fac, "ten"],
            "invalid i64 argument \"ten\"",
        ),
        (vec![&fac], "no _start function"),
    ];
    for (args, expected) in cases {
        let out = lucet_wasi(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn runs_precompiled_files() {
    let wat = std::fs::read(example("fac.wat")).unwrap();
    let elf = lucet_compiler::Compiler::new(Default::default())
        .unwrap()
        .compile(&wat)
        .unwrap()
        .to_elf()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("lucet-wasi-elf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fac.lucet");
    std::fs::write(&path, elf).unwrap();
    let out = lucet_wasi(&["--invoke", "fac", path.to_str().unwrap(), "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "120\n");
}

fn compile(name: &str, wat: &str, count_instructions: bool) -> PathBuf {
    let compiler = lucet_compiler::Compiler::new(lucet_compiler::CompileOptions {
        count_instructions,
        ..Default::default()
    })
    .unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let dir = std::env::temp_dir().join(format!("lucet-wasi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, elf).unwrap();
    p
}

#[test]
fn a_file_for_another_architecture_is_one_line_and_runs_nothing() {
    let host = lucet_compiler::Arch::host().unwrap();
    let other = lucet_compiler::Arch::ALL
        .into_iter()
        .find(|a| *a != host)
        .unwrap();
    let elf = lucet_compiler::Compiler::new(lucet_compiler::CompileOptions {
        target: other,
        ..Default::default()
    })
    .unwrap()
    .compile(br#"(module (func (export "_start") unreachable))"#)
    .unwrap()
    .to_elf()
    .unwrap();
    let dir = std::env::temp_dir().join(format!("lucet-wasi-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("other.lucet");
    std::fs::write(&path, elf).unwrap();
    let out = lucet_wasi(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "compiled for {other}, but this machine is {host}: recompile it with lucetc --target {}",
            host.triple()
        )),
        "{err}"
    );
    assert!(!err.contains("trap"), "{err}");
}

const SPIN: &str = r#"(module (func (export "_start") (loop $l (br $l))))"#;

#[test]
fn fuel_stops_an_infinite_loop() {
    let m = temp("spin_fuel.wat", SPIN);
    let out = lucet_wasi(&["--fuel", "1000000", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: out of fuel: "), "{err}");
    assert!(err.contains("1000000"), "{err}");
    // The same, precompiled with instruction counting.
    let m = compile("spin_counting.lucet", SPIN, true);
    let out = lucet_wasi(&["--fuel", "1000", m.to_str().unwrap()]);
    assert!(
        stderr(&out).starts_with("error: out of fuel: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_program_within_its_fuel_runs_normally() {
    let out = lucet_wasi(&[
        "--fuel",
        "100000",
        "--invoke",
        "fac",
        &example("fac.wat"),
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "3628800\n");
}

#[test]
fn fuel_for_a_module_compiled_without_counting_is_an_error() {
    let m = compile("spin_plain.lucet", SPIN, false);
    let out = lucet_wasi(&["--fuel", "1000", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--count-instructions"), "{err}");
}

/// `--timeout 100ms` stops `module` within a second, with a one-line error.
fn assert_times_out(module: &Path) {
    let started = std::time::Instant::now();
    let out = lucet_wasi(&["--timeout", "100ms", module.to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: timeout: "), "{err}");
}

const START_SPIN: &str =
    r#"(module (func $s (loop $l (br $l))) (start $s) (func (export "_start")))"#;

#[test]
fn a_start_function_that_never_ends_is_stopped_too() {
    let m = temp("start_spin.wat", START_SPIN);
    assert_times_out(&m);
    let out = lucet_wasi(&["--fuel", "10000", m.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.starts_with("error: out of fuel: "), "{err}");
}

#[test]
fn a_timeout_stops_an_infinite_loop() {
    assert_times_out(&temp("spin.wat", SPIN));
}

#[test]
fn guest_addresses_near_4_gib_do_not_wrap() {
    // A full 4 GiB memory: a result pointer 4 bytes below its end leaves no
    // room for fd_prestat_get's 8 bytes, which must be EFAULT (21) rather
    // than a write at address 0; args_get with its pointer array there
    // fails the same way and writes nothing, and a string that ends at the
    // very end of memory is fine.
    let m = temp(
        "wrap.wat",
        r#"(module
          (import "wasi_snapshot_preview1" "fd_prestat_get"
            (func $prestat (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get"
            (func $args_get (param i32 i32) (result i32)))
          (memory 65536)
          (func (export "prestat") (result i32 i32 i32)
            (i32.store (i32.const 0) (i32.const 0x5a5a5a5a))
            (call $prestat (i32.const 3) (i32.const 0xFFFFFFFC))
            (i32.load (i32.const 0))
            (i32.load (i32.const 0xFFFFFFFC)))
          (func (export "args") (param i32 i32) (result i32 i32)
            (call $args_get (local.get 0) (local.get 1))
            (i32.load (i32.const 16))))"#,
    );
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    let out = lucet_wasi(&["--dir", dir, "--invoke", "prestat", m.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "21\n1515870810\n0\n");
    let path = m.to_str().unwrap();
    let args = |ptrs: u32, buf: u32| {
        let out = lucet_wasi(&[
            "--invoke",
            "args",
            path,
            &(ptrs as i32).to_string(),
            &(buf as i32).to_string(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // No room for the one pointer: EFAULT, nothing written.
    assert_eq!(args(0xFFFF_FFFD, 32), "21\n0\n");
    // argv[0] (the module path) ending exactly at the end of memory.
    let buf = (1u64 << 32) - (path.len() as u64 + 1);
    assert_eq!(args(16, buf as u32), format!("0\n{}\n", buf as u32 as i32));
}

#[test]
fn tables_past_the_limits_are_an_error_not_gigabytes() {
    // 100 tables of 10 million elements (8 GB if allocated) in a few
    // hundred bytes of module.
    let mut wat = String::from("(module");
    for _ in 0..100 {
        wat.push_str(" (table 10000000 funcref)");
    }
    wat.push_str(r#" (func (export "_start")))"#);
    let m = temp("tables.wat", &wat);
    let out = lucet_wasi(&["--max-heap-size", "64KiB", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: limits exceeded: the module's tables need 1000000000 elements; the region allows 1000000 per instance\n"
    );
    let out = lucet_wasi(&["--max-tables", "10", m.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("defines 100 tables"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_timeout_stops_a_guest_sleeping_in_poll_oneoff() {
    // A 30 s clock subscription under a 100 ms timeout: the timeout wakes
    // the host call, and the run ends as timed out even though the guest
    // would exit with 0 right after the call.
    let m = temp(
        "poll_sleep.wat",
        r#"(module
          (import "wasi_snapshot_preview1" "poll_oneoff"
            (func $poll (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory 1)
          (data (i32.const 16) "\01")
          (data (i32.const 24) "\00\f2\05\2a\01\00\00\00")
          (func (export "_start")
            (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
            (call $exit (i32.const 0))))"#,
    );
    assert_times_out(&m);
}

#[test]
fn a_timeout_stops_a_guest_blocked_reading_stdin() {
    // stdin is a pipe nobody writes to (and nobody closes while we wait).
    let m = temp(
        "read_stdin.wat",
        r#"(module
          (import "wasi_snapshot_preview1" "fd_read"
            (func $read (param i32 i32 i32 i32) (result i32)))
          (memory 1)
          (data (i32.const 0) "\10\00\00\00\10\00\00\00")
          (func (export "_start")
            (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 64)))))"#,
    );
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .args(["--timeout", "100ms", m.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: timeout: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_timeout_stops_a_huge_random_get() {
    let m = temp(
        "random.wat",
        r#"(module
          (import "wasi_snapshot_preview1" "random_get"
            (func $random (param i32 i32) (result i32)))
          (memory 16384)
          (func (export "_start")
            (loop $again
              (drop (call $random (i32.const 0) (i32.const 0x40000000)))
              (br $again))))"#,
    );
    assert_times_out(&m);
}

#[test]
fn the_timeout_and_the_compile_budget_cover_compilation() {
    // Compiling this takes milliseconds; a timeout of a nanosecond is
    // spent before the first function is done, so compilation stops.
    let m = temp(
        "compile_budget.wat",
        r#"(module (func (export "_start") (loop $l (br_if $l (i32.const 0)))))"#,
    );
    let out = lucet_wasi(&["--timeout", "1ns", m.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("compilation over its budget"), "{err}");
    let out = lucet_wasi(&["--function-compile-budget", "1ns", m.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("per-function budget of 1ns"),
        "{err}"
    );
    // The defaults leave room for real programs.
    let out = lucet_wasi(&["--timeout", "30s", m.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&lucet_wasi(&["--help"]));
    assert!(
        help.contains("--compile-budget") && help.contains("[default: 60s]"),
        "{help}"
    );
}

/// `examples/fac.wat` compiled, signed with `sk` when given.
fn compiled_fac(sk: Option<&minisign::SecretKey>) -> Vec<u8> {
    let text = std::fs::read(example("fac.wat")).unwrap();
    let compiled = lucet_compiler::Compiler::new(Default::default())
        .unwrap()
        .compile(&text)
        .unwrap();
    match sk {
        None => compiled.to_elf().unwrap(),
        Some(sk) => compiled
            .to_signed_elf(&|hash| {
                minisign::sign(None, sk, std::io::Cursor::new(hash.0), None, None)
                    .map(|b| b.into_string())
                    .map_err(|e| e.to_string())
            })
            .unwrap(),
    }
}

fn write_temp(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("lucet-wasi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn verify_runs_only_files_signed_by_the_key() {
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let key = write_temp("release.pub", pk.to_box().unwrap().to_string().as_bytes());
    let other_key = write_temp(
        "other.pub",
        other.pk.to_box().unwrap().to_string().as_bytes(),
    );
    let signed = write_temp("signed.lucet", &compiled_fac(Some(&sk)));
    let unsigned = write_temp("unsigned.lucet", &compiled_fac(None));

    let out = lucet_wasi(&["--verify", &key, "--invoke", "fac", &signed, "10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "3628800\n");

    let wat = example("fac.wat");
    let refusals = [
        (
            vec!["--verify", &other_key, "--invoke", "fac", &signed, "10"],
            "module signature is not valid for this key: it was signed by another key",
        ),
        (
            vec!["--verify", &key, "--invoke", "fac", &unsigned, "10"],
            "module file is not signed",
        ),
        (
            vec!["--verify", &key, "--invoke", "fac", &wat, "10"],
            "a signed one is required",
        ),
        (
            vec![
                "--verify",
                "/nonexistent.pub",
                "--invoke",
                "fac",
                &signed,
                "10",
            ],
            "cannot read /nonexistent.pub",
        ),
    ];
    for (args, expected) in refusals {
        let out = lucet_wasi(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{err}"
        );
        assert_eq!(stdout(&out), "", "nothing ran");
    }
}

#[test]
fn a_damaged_file_is_refused_with_one_line() {
    let mut bytes = compiled_fac(None);
    let seal = lucet_module::find_seal(&bytes).unwrap();
    bytes[seal.start / 2] ^= 0x10;
    let damaged = write_temp("damaged.lucet", &bytes);
    let out = lucet_wasi(&["--invoke", "fac", &damaged, "10"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("error: {damaged}: module file is damaged: hash mismatch\n")
    );
}

#[test]
fn gc_programs_run_within_their_gc_heap() {
    // A list of n boxed integers, summed: n cons cells of 24 bytes.
    let m = temp(
        "gc_list.wat",
        r#"(module
          (type $cell (struct (field i32) (field (ref null $cell))))
          (func (export "sum") (param $n i32) (result i32)
            (local $list (ref null $cell)) (local $sum i32)
            (block $built (loop $build
              (br_if $built (i32.eqz (local.get $n)))
              (local.set $list (struct.new $cell (local.get $n) (local.get $list)))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br $build)))
            (block $done (loop $walk
              (br_if $done (ref.is_null (local.get $list)))
              (local.set $sum (i32.add (local.get $sum)
                (struct.get $cell 0 (ref.as_non_null (local.get $list)))))
              (local.set $list (struct.get $cell 1 (ref.as_non_null (local.get $list))))
              (br $walk)))
            (local.get $sum)))"#,
    );
    let path = m.to_str().unwrap();
    let out = lucet_wasi(&["--invoke", "sum", path, "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "500500\n");
    // 10,000 cells do not fit in 64 KiB.
    let out = lucet_wasi(&["--gc-heap-size", "64KiB", "--invoke", "sum", path, "10000"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("out of GC heap memory"),
        "{}",
        stderr(&out)
    );
    let out = lucet_wasi(&["--gc-heap-size", "2TiB", "--invoke", "sum", path, "1"]);
    assert_eq!(stderr(&out).trim(), "error: --gc-heap-size is at most 1TiB");
}

#[test]
fn sizes_and_durations_take_units_and_refuse_the_rest() {
    let fac = example("fac.wat");
    // Binary units, with or without `B`/`iB`, and a bare number of bytes.
    for size in ["64K", "64KiB", "1MiB", "4194304"] {
        let out = lucet_wasi(&["--max-heap-size", size, "--invoke", "fac", &fac, "5"]);
        assert!(out.status.success(), "{size}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "120");
    }
    let out = lucet_wasi(&["--timeout", "1500ms", "--invoke", "fac", &fac, "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (flag, bad) in [
        ("--max-heap-size", "12XB"),
        ("--timeout", "soon"),
        ("--timeout", "5"),
    ] {
        let out = lucet_wasi(&[flag, bad, "--invoke", "fac", &fac, "5"]);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
        let err = stderr(&out);
        assert!(
            err.contains(bad) && err.contains(flag),
            "{flag} {bad}: {err}"
        );
    }
}
