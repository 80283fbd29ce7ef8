//! Real C programs (`tests/programs/`, built with wasi-libc) run under the
//! `lucet-wasi` runner: files, directories, arguments, environment, clocks,
//! randomness, stdio, exit codes, escapes from the sandbox, and setjmp/longjmp
//! (on exception handling).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.wasm"))
}

fn expected(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lucet-wasi");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lucet-wasi-programs-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn args_reach_the_program() {
    let wasm = program("args");
    let out = run(
        &[
            wasm.to_str().unwrap(),
            "hello",
            "two words",
            "",
            "--flag=1",
            "ünï",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // argv[0] is the module as given on the command line.
    let want = expected("args.stdout.expected")
        .replace("argv[0]=[args]", &format!("argv[0]=[{}]", wasm.display()));
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn everything_after_the_module_is_the_programs() {
    // lucet-wasi's own options, `--` and `--version` included, belong to
    // the program once they follow the module; before it they are ours.
    let wasm = program("args");
    let guest = [
        "--version",
        "--env",
        "A=B",
        "--dir",
        ".",
        "--",
        "--help",
        "-x",
    ];
    let mut argv = vec!["--env", "MINE=1", "--", wasm.to_str().unwrap()];
    argv.extend(guest);
    let out = run(&argv, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut want = format!("argc={}\nargv[0]=[{}]\n", guest.len() + 1, wasm.display());
    for (i, a) in guest.iter().enumerate() {
        want.push_str(&format!("argv[{}]=[{a}]\n", i + 1));
    }
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn environment_is_exactly_what_was_given() {
    let wasm = program("env");
    let out = run(
        &[
            "--env",
            "FOO=bar",
            "--env",
            "EMPTY=",
            "--env",
            "EQ=a=b",
            wasm.to_str().unwrap(),
            "FOO",
            "EMPTY",
            "EQ",
            "MISSING",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("env.stdout.expected"));
}

#[test]
fn files_and_directories_in_a_preopened_directory() {
    let dir = temp_dir("files");
    let preopen = format!("{}::/sandbox", dir.display());
    let out = run(
        &["--dir", &preopen, program("files").to_str().unwrap()],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("files.stdout.expected"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "cleaned up");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_escape_from_the_sandbox_is_refused() {
    let root = temp_dir("sandbox");
    let sandbox = root.join("box");
    std::fs::create_dir(&sandbox).unwrap();
    // Bait: a file just outside the sandbox, and links that point out of it.
    std::fs::write(root.join("x"), "outside").unwrap();
    std::os::unix::fs::symlink("/etc", sandbox.join("to_etc")).unwrap();
    std::os::unix::fs::symlink("../..", sandbox.join("to_up")).unwrap();
    std::os::unix::fs::symlink("../x", sandbox.join("to_x")).unwrap();
    let preopen = format!("{}::/sandbox", sandbox.display());
    let out = run(
        &["--dir", &preopen, program("sandbox").to_str().unwrap()],
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 12, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("escape {}: blocked (", i + 1)),
            "{line}"
        );
        // The host made the links, so every route was really tried.
        assert!(!line.contains("symlink refused"), "{line}");
    }
    for link in ["to_etc", "to_up", "to_x"] {
        assert!(sandbox.join(link).symlink_metadata().is_ok(), "{link} kept");
    }
    // Nothing was created or moved outside.
    let mut outside: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    outside.sort();
    assert_eq!(outside, ["box", "x"]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn clocks_and_sleep() {
    let out = run(&[program("clocks").to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("clocks.stdout.expected"));
}

#[test]
fn randomness() {
    let out = run(&[program("random").to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("random.stdout.expected"));
}

#[test]
fn the_exit_code_is_the_programs() {
    let wasm = program("exit_code");
    let out = run(&[wasm.to_str().unwrap(), "7"], b"");
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("exit_code.stdout.expected"));
    let out = run(&[wasm.to_str().unwrap(), "0"], b"");
    assert_eq!(out.status.code(), Some(0));
    let out = run(&[wasm.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("usage"));
}

#[test]
fn stdin_stdout_and_stderr() {
    let input =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/stdio.stdin"))
            .unwrap();
    let out = run(&[program("stdio").to_str().unwrap()], &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("stdio.stdout.expected"));
    assert_eq!(text(&out.stderr), expected("stdio.stderr.expected"));
}

#[test]
fn setjmp_and_longjmp_on_exception_handling() {
    // Compiled by LLVM's setjmp/longjmp lowering onto try_table and throw
    // (build.sh); a hundred thousand jumps, each an exception object.
    let out = run(&[program("setjmp").to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("setjmp.stdout.expected"));
}
