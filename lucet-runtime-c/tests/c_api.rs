//! The C API from C: builds `examples/embed.c` and `tests/c/api_test.c`
//! against the crate's static library with the system C compiler, compiles
//! the `.wat` modules they run with the in-repo compiler, and runs them:
//! plainly, under Valgrind (memory errors and leaks), and built with
//! AddressSanitizer.
//!
//! Cargo builds the library's `staticlib` (with its other crate types)
//! before the integration tests, next to the test binaries in
//! `target/<profile>/deps/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use lucet_compiler::{CompileOptions, Compiler, TargetCpu};

/// The heap reservation and guard the test modules are compiled for:
/// small, so that a region's address space stays small (for Valgrind), and
/// with explicit bounds checks in generated code instead of a 4 GiB guard.
const RESERVED: u64 = 1 << 20;
const GUARD: u64 = 64 << 10;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/deps/liblucet_runtime_c.a`, next to this test binary.
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let lib = exe
        .parent()
        .expect("the test binary is in a directory")
        .join("liblucet_runtime_c.a");
    assert!(
        lib.exists(),
        "{} is missing: cargo builds it with the crate's lib target",
        lib.display()
    );
    lib
}

/// Where the fixtures go.
fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucet-runtime-c");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compile_wat(wat: &Path, out: &Path, options: CompileOptions) {
    let source = std::fs::read(wat).unwrap();
    let elf = Compiler::new(options)
        .unwrap()
        .compile(&source)
        .unwrap_or_else(|e| panic!("{}: {e}", wat.display()))
        .to_elf()
        .unwrap();
    std::fs::write(out, elf).unwrap();
}

/// For the verified-load tests: `answer.lucet` (unsigned), `signed.lucet`
/// (signed by the key of `release.pub`), `damaged.lucet` (one byte changed)
/// and `other.pub`, another key.
fn write_signed_modules(dir: &Path) {
    let compiled = Compiler::new(small_heap())
        .unwrap()
        .compile(br#"(module (func (export "answer") (result i32) i32.const 42))"#)
        .unwrap();
    let key = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let signed = compiled
        .to_signed_elf(&|hash| {
            minisign::sign(None, &key.sk, std::io::Cursor::new(hash.0), None, None)
                .map(|b| b.into_string())
                .map_err(|e| e.to_string())
        })
        .unwrap();
    let unsigned = compiled.to_elf().unwrap();
    let mut damaged = unsigned.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    std::fs::write(dir.join("signed.lucet"), signed).unwrap();
    std::fs::write(dir.join("answer.lucet"), unsigned).unwrap();
    std::fs::write(dir.join("damaged.lucet"), damaged).unwrap();
    std::fs::write(
        dir.join("release.pub"),
        key.pk.to_box().unwrap().to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("other.pub"),
        other.pk.to_box().unwrap().to_string(),
    )
    .unwrap();
}

/// The CPU the test modules are compiled for: one Valgrind emulates (it
/// has no AVX-512 or AVX-VNNI, and the runtime refuses code that uses
/// features the CPU it sees lacks).
fn emulated_cpu() -> TargetCpu {
    TargetCpu::Named("nehalem".into())
}

fn small_heap() -> CompileOptions {
    CompileOptions {
        reserved_size: RESERVED,
        guard_size: GUARD,
        cpu: emulated_cpu(),
        ..CompileOptions::default()
    }
}

/// Compiles `source` with `cc` into `out`, linked with the static library.
fn cc(source: &Path, out: &Path, extra: &[&str]) {
    let output = Command::new("cc")
        .args([
            "-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread",
        ])
        .args(extra)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(source)
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm"])
        .arg("-o")
        .arg(out)
        .output()
        .expect("cannot run cc");
    assert!(
        output.status.success(),
        "cc {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Fixture {
    dir: PathBuf,
    embed: PathBuf,
    embed_asan: PathBuf,
    api_test: PathBuf,
    api_test_asan: PathBuf,
    leak: PathBuf,
    leak_asan: PathBuf,
}

/// Modules and programs, built once for all the tests here.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = work_dir();
        let wat = crate_dir().join("tests/wat");
        // The example's module as `lucetc` compiles it by default (but for
        // a CPU Valgrind emulates).
        compile_wat(
            &crate_dir().join("examples/embed.wat"),
            &dir.join("embed.lucet"),
            CompileOptions {
                cpu: emulated_cpu(),
                ..CompileOptions::default()
            },
        );
        compile_wat(&wat.join("api.wat"), &dir.join("api.lucet"), small_heap());
        compile_wat(&wat.join("wasi.wat"), &dir.join("wasi.lucet"), small_heap());
        compile_wat(
            &wat.join("fuel.wat"),
            &dir.join("fuel.lucet"),
            CompileOptions {
                count_instructions: true,
                ..small_heap()
            },
        );
        std::fs::copy(wat.join("api.wat"), dir.join("not_a_module.txt")).unwrap();
        write_signed_modules(&dir);

        let asan = ["-fsanitize=address", "-fno-omit-frame-pointer"];
        let fixture = Fixture {
            embed: dir.join("embed"),
            embed_asan: dir.join("embed-asan"),
            api_test: dir.join("api_test"),
            api_test_asan: dir.join("api_test-asan"),
            leak: dir.join("leak"),
            leak_asan: dir.join("leak-asan"),
            dir,
        };
        let example = crate_dir().join("examples/embed.c");
        let tests = crate_dir().join("tests/c/api_test.c");
        cc(&example, &fixture.embed, &[]);
        cc(&example, &fixture.embed_asan, &asan);
        cc(&tests, &fixture.api_test, &[]);
        cc(&tests, &fixture.api_test_asan, &asan);
        let leak = crate_dir().join("tests/c/leak.c");
        cc(&leak, &fixture.leak, &[]);
        cc(&leak, &fixture.leak_asan, &asan);
        fixture
    })
}

fn api_args(f: &Fixture) -> Vec<String> {
    vec![f.dir.display().to_string(), (RESERVED + GUARD).to_string()]
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// What the example must print (in any order of threads).
fn check_example(output: &Output) {
    let (stdout, stderr) = text(output);
    assert!(
        output.status.success(),
        "embed failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // run(n) = 3 * (0 + 1 + ... + n)
    for (i, n) in [10, 20, 30, 40].into_iter().enumerate() {
        let line = format!("thread {i}: run({n}) = {}", 3 * n * (n + 1) / 2);
        assert!(
            stdout.lines().any(|l| l == line),
            "no {line:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout.lines().any(|l| l == "host calls: 104"),
        "no host call count in:\n{stdout}"
    );
}

const API_TESTS: [&str; 14] = [
    "load_errors",
    "verified_load",
    "null_handles",
    "run",
    "traps",
    "yield_resume",
    "reset",
    "kill_switch",
    "fuel",
    "host_user_data",
    "terminate",
    "globals_and_memory",
    "wasi",
    "limits",
];

fn check_api_tests(output: &Output) {
    let (stdout, stderr) = text(output);
    assert!(
        output.status.success(),
        "api_test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for t in API_TESTS {
        let line = format!("ok {t}");
        assert!(
            stdout.lines().any(|l| l == line),
            "no {line:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains(", 0 failures"),
        "no summary in:\n{stdout}\n{stderr}"
    );
}

#[test]
fn example_runs_on_four_threads() {
    let f = fixture();
    let output = Command::new(&f.embed)
        .arg(f.dir.join("embed.lucet"))
        .output()
        .unwrap();
    check_example(&output);
}

#[test]
fn api_tests_pass() {
    let f = fixture();
    let output = Command::new(&f.api_test)
        .args(api_args(f))
        .output()
        .unwrap();
    check_api_tests(&output);
}

/// Valgrind with leak checking. Guest code is compiled at run time from
/// Valgrind's point of view (the runtime maps it), and traps are real
/// faults on inaccessible pages, which Memcheck would report as invalid
/// accesses before the runtime's SIGSEGV handler turns them into traps: the
/// suppressions in `tests/c/valgrind.supp` cover exactly those (accesses
/// from code outside any object file). Leaks of every kind Valgrind can be
/// sure of ("definite", "indirect") fail the run.
fn valgrind(program: &Path, args: &[String]) -> Option<Output> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        if std::env::var_os("LUCET_REQUIRE_SANITIZERS").is_some() {
            panic!("valgrind is not installed");
        }
        eprintln!("valgrind is not installed: skipped");
        return None;
    }
    let supp = crate_dir().join("tests/c/valgrind.supp");
    Some(
        Command::new("valgrind")
            .args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                // The runtime switches between the thread's stack and the
                // guest's stacks in its slots.
                "--max-stackframe=16777216",
            ])
            .arg(format!("--suppressions={}", supp.display()))
            .arg(program)
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn example_under_valgrind() {
    let f = fixture();
    if let Some(output) = valgrind(&f.embed, &[f.dir.join("embed.lucet").display().to_string()]) {
        check_example(&output);
        let (_, stderr) = text(&output);
        assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
    }
}

#[test]
fn api_tests_under_valgrind() {
    let f = fixture();
    if let Some(output) = valgrind(&f.api_test, &api_args(f)) {
        check_api_tests(&output);
        let (_, stderr) = text(&output);
        assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
    }
}

/// AddressSanitizer (with LeakSanitizer) on the C programs; the runtime
/// itself is not instrumented, but its allocations go through ASan's
/// malloc, so they are leak-checked too.
///
/// - `handle_segv=0`, `handle_sigbus=0`, `handle_sigfpe=0`,
///   `handle_sigill=0`: the runtime's handler decides whether a fault is a
///   guest trap; ASan's must not take the signal first.
/// - `allow_user_segv_handler=1`: lets the runtime install its handler.
/// - `detect_stack_use_after_return=0`: C host functions run on the
///   guest's stack, where ASan's fake stacks would not be unwound by a
///   context switch.
/// - `use_sigaltstack=0`: the runtime gives each thread the signal stack
///   its handler needs; ASan must not replace it.
/// - `fast_unwind_on_malloc=0`: the Rust code has no frame pointers, so leak
///   reports need the slow unwinder to name the API call that allocated.
///
/// ASan warns once that it "is ignoring requested
/// __asan_handle_no_return": its interceptor of `_Unwind_RaiseException`
/// sees an unwind (a termination or a reset of a yielded instance, inside
/// Rust frames only) on a guest stack it does not know, and rightly leaves
/// that stack's shadow alone.
fn asan(program: &Path, args: &[String]) -> Output {
    Command::new(program)
        .args(args)
        .env(
            "ASAN_OPTIONS",
            "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:\
             allow_user_segv_handler=1:detect_stack_use_after_return=0:\
             use_sigaltstack=0:detect_leaks=1:fast_unwind_on_malloc=0:exitcode=99",
        )
        .output()
        .unwrap()
}

/// The checkers as configured here do see a leak through the API.
#[test]
fn checkers_report_a_leaked_handle() {
    let f = fixture();
    if let Some(output) = valgrind(&f.leak, &[]) {
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(99), "{stderr}");
        assert!(stderr.contains("definitely lost"), "{stderr}");
    }
    let output = asan(&f.leak_asan, &[]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(99), "{stderr}");
    assert!(stderr.contains("LeakSanitizer"), "{stderr}");
    assert!(stderr.contains("lucet_linker_new"), "{stderr}");
}

#[test]
fn example_under_asan() {
    let f = fixture();
    let output = asan(
        &f.embed_asan,
        &[f.dir.join("embed.lucet").display().to_string()],
    );
    check_example(&output);
}

#[test]
fn api_tests_under_asan() {
    let f = fixture();
    let output = asan(&f.api_test_asan, &api_args(f));
    check_api_tests(&output);
}
