//! `lucetc` as users run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lucetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .args(args)
        .output()
        .expect("run lucetc")
}

fn workdir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lucetc-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compiles_text_and_binary_to_elf() {
    let dir = workdir("ok");
    let fac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fac.wat");
    let out_path = dir.join("fac.lucet");
    let out = lucetc(&[s(&fac), "-o", s(&out_path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = std::fs::read(&out_path).unwrap();
    let parsed = goblin::elf::Elf::parse(&elf).expect("a real ELF file");
    let names: Vec<_> = parsed
        .syms
        .iter()
        .filter_map(|s| parsed.strtab.get_at(s.st_name))
        .collect();
    assert!(names.contains(&"guest_func_fac"), "{names:?}");

    // A wasm binary works too, with every option.
    let wasm_path = dir.join("fac.wasm");
    std::fs::write(&wasm_path, wat::parse_file(&fac).unwrap()).unwrap();
    let out = lucetc(&[
        s(&wasm_path),
        "-o",
        s(&dir.join("fac2.lucet")),
        "--opt-level",
        "speed_and_size",
        "--reserved-size",
        "64MiB",
        "--guard-size",
        "64KiB",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lucetc(&[s(&fac), "-o", s(&dir.join("fac.clif")), "--emit", "clif"]);
    assert!(out.status.success());
    let clif = std::fs::read_to_string(dir.join("fac.clif")).unwrap();
    assert!(clif.contains("function u0:0"), "{clif}");
}

#[test]
fn count_instructions_is_recorded_in_the_module() {
    let dir = workdir("fuel");
    let fac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fac.wat");
    for (flags, counts) in [(&["--count-instructions"][..], true), (&[][..], false)] {
        let out_path = dir.join(format!("fac-{counts}.lucet"));
        let mut args = vec![s(&fac), "-o", s(&out_path)];
        args.extend_from_slice(flags);
        let out = lucetc(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let elf = std::fs::read(&out_path).unwrap();
        let file = lucet_module::ModuleFile::parse(&elf).unwrap();
        assert_eq!(file.data.counts_instructions, counts);
    }
}

#[test]
fn the_target_cpu_decides_the_features_recorded() {
    let dir = workdir("cpu");
    let fac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fac.wat");
    let features = |cpu: &str| {
        let out_path = dir.join(format!("fac-{cpu}.lucet"));
        let out = lucetc(&[s(&fac), "-o", s(&out_path), "--cpu", cpu]);
        assert!(
            out.status.success(),
            "{cpu}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let elf = std::fs::read(&out_path).unwrap();
        lucet_module::ModuleFile::parse(&elf)
            .unwrap()
            .data
            .cpu_features
    };
    assert!(features("baseline").is_empty());
    let nehalem = features("nehalem");
    for f in ["sse3", "ssse3", "sse41", "sse42", "popcnt"] {
        assert!(nehalem.iter().any(|n| n == f), "nehalem lacks {f}");
    }
    assert!(!nehalem.iter().any(|n| n.starts_with("avx")), "{nehalem:?}");
    let haswell = features("haswell");
    for f in ["avx", "avx2", "bmi1", "bmi2", "fma", "lzcnt"] {
        assert!(haswell.iter().any(|n| n == f), "haswell lacks {f}");
    }
    let out_path = dir.join("bogus.lucet");
    let out = lucetc(&[s(&fac), "-o", s(&out_path), "--cpu", "pentium-\n9"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("unknown CPU"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out_path.exists());
}

#[test]
fn compiles_for_aarch64_on_any_machine() {
    let dir = workdir("aarch64");
    // fac calls itself; memory.grow calls the runtime through a stub.
    let wat = dir.join("m.wat");
    std::fs::write(
        &wat,
        r#"(module (memory 1)
            (func $fac (export "fac") (param i64) (result i64)
              (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
                (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
            (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#,
    )
    .unwrap();
    let out_path = dir.join("m.lucet");
    let out = lucetc(&[
        s(&wat),
        "-o",
        s(&out_path),
        "--target",
        "aarch64-unknown-linux-gnu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = std::fs::read(&out_path).unwrap();
    let parsed = goblin::elf::Elf::parse(&elf).expect("a real ELF file");
    assert_eq!(parsed.header.e_machine, goblin::elf::header::EM_AARCH64);
    let file = lucet_module::ModuleFile::parse(&elf).unwrap();
    assert_eq!(file.data.arch, lucet_module::Arch::Aarch64);
    assert!(
        file.data.cpu_features.is_empty(),
        "{:?}",
        file.data.cpu_features
    );
    assert!(!file.data.call_table.is_empty());
    // Every word of the call stubs is adrp x16 / ldr x16 / br x16 / udf.
    let stubs = parsed.syms.iter().filter(|s| {
        parsed
            .strtab
            .get_at(s.st_name)
            .is_some_and(|n| n.starts_with("lucet_call_"))
    });
    let mut n = 0;
    for sym in stubs {
        let at = sym.st_value as usize;
        let w = |i: usize| {
            u32::from_le_bytes(file.text[at + 4 * i..at + 4 * i + 4].try_into().unwrap())
        };
        assert_eq!(w(0) & 0x9f00_001f, 0x9000_0010, "adrp x16");
        assert_eq!(w(1) & 0xffc0_03ff, 0xf940_0210, "ldr x16, [x16, #imm]");
        assert_eq!(w(2), 0xd61f_0200, "br x16");
        n += 1;
    }
    assert_eq!(n, file.data.call_table.len());

    for target in ["riscv64gc-unknown-linux-gnu", "x\nerror: fake"] {
        let out = lucetc(&[s(&wat), "-o", s(&dir.join("bad.lucet")), "--target", target]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(": unknown target \""),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = lucetc(&[
        s(&wat),
        "-o",
        s(&dir.join("bad.lucet")),
        "--target",
        "aarch64-unknown-linux-gnu",
        "--cpu",
        "haswell",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown CPU \"haswell\" for aarch64"), "{err}");
}

/// The module from the bug report whose function body goes on after its
/// final `end` (42 bytes).
const TRAILING_OPERATORS: [u8; 42] = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x03, 0x02, 0x01, 0x00, 0x0a, 0x14, 0x01, 0x12, 0x00, 0x41, 0x00, 0x41, 0x00, 0x0d, 0x00, 0x41,
    0x00, 0x0f, 0x0b, 0x02, 0x40, 0x41, 0x00, 0x0f, 0x0b, 0x0b,
];

#[test]
fn invalid_input_is_one_line_with_an_offset_and_leaves_no_output() {
    let dir = workdir("bad");
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "truncated.wasm",
            b"\0asm\x01\0\0\0\x01\x05",
            "at byte offset",
        ),
        ("badmagic.wasm", b"\0asm\x02\0\0\0", "at byte offset"),
        (
            "invalid.wat",
            b"(module (func (result i32) (i64.const 1)))",
            "at byte offset",
        ),
        ("syntax.wat", b"(module (func (", "line 1"),
        (
            "binary-junk.wasm",
            &[0xff, 0xfe, 0x00, 0x01],
            "neither a wasm binary nor UTF-8",
        ),
        // Operators after the function's final `end`: validated before any
        // translation (the 2024 translator panicked on this one).
        (
            "after-end.wasm",
            &TRAILING_OPERATORS,
            "operators remaining after end of function",
        ),
        // The validator quotes the name; it is printed escaped.
        (
            "duplicate-export.wat",
            b"(module (func (export \"x\\0aerror: fake\\1b[31m\")) (func (export \"x\\0aerror: fake\\1b[31m\")))",
            "x\\u{a}error: fake\\u{1b}[31m",
        ),
    ];
    for (name, bytes, expect) in cases {
        let input = dir.join(name);
        std::fs::write(&input, bytes).unwrap();
        let output = dir.join(format!("{name}.lucet"));
        let out = lucetc(&[s(&input), "-o", s(&output)]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
        assert!(!output.exists(), "{name}: output left behind");
        assert!(!err.contains('\x1b'), "{name}: raw escape in {err}");
    }
    let out = lucetc(&["/nonexistent.wat", "-o", s(&dir.join("x"))]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bindings_restrict_imports() {
    let dir = workdir("bindings");
    let input = dir.join("m.wat");
    std::fs::write(
        &input,
        r#"(module (import "env" "a" (func)) (import "env" "b" (func)))"#,
    )
    .unwrap();
    let bindings = dir.join("b.json");
    std::fs::write(&bindings, r#"{"env": {"a": "a"}}"#).unwrap();
    let out = lucetc(&[
        s(&input),
        "-o",
        s(&dir.join("m.lucet")),
        "--bindings",
        s(&bindings),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("import env.b is not in the bindings"), "{err}");
    std::fs::write(&bindings, r#"{"env": {"a": "a", "b": "b"}}"#).unwrap();
    let out = lucetc(&[
        s(&input),
        "-o",
        s(&dir.join("m.lucet")),
        "--bindings",
        s(&bindings),
    ]);
    assert!(out.status.success());
}

#[test]
fn bad_options_are_errors() {
    let dir = workdir("opts");
    let fac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fac.wat");
    let out = lucetc(&[s(&fac), "-o", s(&dir.join("x")), "--reserved-size", "1000"]);
    assert_eq!(out.status.code(), Some(1));
    let out = lucetc(&[s(&fac), "-o", s(&dir.join("x")), "--reserved-size", "lots"]);
    assert_ne!(out.status.code(), Some(0));
}

/// One function: `operands` constants left on the operand stack across
/// `ifs` sequential `if`s, then added up.
fn operands_across_ifs(operands: usize, ifs: usize) -> String {
    let mut body = String::new();
    for i in 0..operands {
        body.push_str(&format!("(i32.const {i})"));
    }
    for _ in 0..ifs {
        body.push_str("(if (local.get 0) (then (local.set 0 (i32.const 1))))");
    }
    for _ in 1..operands {
        body.push_str("(i32.add)");
    }
    format!("(module (func (export \"f\") (param i32) (result i32) {body}))")
}

/// The shape that made compilation super-linear: `n` nested loops, `n`
/// locals, every loop branched to from the innermost body.
fn nested_loops(n: usize) -> String {
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!("(loop $l{i} "));
    }
    for i in 0..n {
        body.push_str(&format!(
            "(local.set {i} (i32.add (local.get {i}) (i32.const 1))) (br_if $l{i} (i32.lt_u (local.get {i}) (i32.const {})))",
            i + 3
        ));
    }
    body.push_str(&")".repeat(n));
    let locals = vec!["i32"; n].join(" ");
    format!("(module (func (export \"f\") (local {locals}) {body}))")
}

#[test]
fn compilation_has_a_budget() {
    let dir = workdir("budget");
    let input = dir.join("loops.wat");
    std::fs::write(&input, nested_loops(200)).unwrap();
    let output = dir.join("loops.lucet");
    // Within a generous budget, the 200-nested-loop function compiles (the
    // single-pass register allocator takes it; the backtracking one took
    // seconds).
    let out = lucetc(&[
        s(&input),
        "-o",
        s(&output),
        "--function-compile-budget",
        "120s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Over a budget: one line naming the function and the budget, no output.
    std::fs::remove_file(&output).unwrap();
    let out = lucetc(&[
        s(&input),
        "-o",
        s(&output),
        "--function-compile-budget",
        "1ns",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("compilation over its budget: function func[0] \"f\" took")
            && stderr.contains("per-function budget of 1ns"),
        "{stderr}"
    );
    assert!(!output.exists());
    let out = lucetc(&[s(&input), "-o", s(&output), "--compile-budget", "1ns"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the module took more than the budget of 1ns to compile"),
        "{stderr}"
    );
    let out = lucetc(&[s(&input), "-o", s(&output), "--compile-budget", "soon"]);
    assert!(!out.status.success());
}

#[test]
fn functions_past_the_size_limits_are_refused() {
    let dir = workdir("too-complex");
    let input = dir.join("operands.wat");
    // 20,000 operands live across 5,001 ifs: a volume of 100 million.
    std::fs::write(&input, operands_across_ifs(20_000, 5_001)).unwrap();
    let output = dir.join("operands.lucet");
    let out = lucetc(&[s(&input), "-o", s(&output)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains(
                "function func[0] \"f\" is too complex to compile: more than 100000000 values live across"
            ),
        "{stderr}"
    );
    assert!(!output.exists());
    // Below the limit, the same shape compiles.
    std::fs::write(&input, operands_across_ifs(2_000, 500)).unwrap();
    let out = lucetc(&[s(&input), "-o", s(&output)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&output).unwrap();
    // 2,000 locals live across 1,600 nested loops: SSA construction would
    // make 3.2 million block parameters of a 30 KB body.
    let mut body = String::new();
    for i in 0..1600 {
        body.push_str(&format!("(loop $l{i} "));
    }
    for i in 0..2000 {
        body.push_str(&format!(
            "(local.set {i} (i32.add (local.get {i}) (i32.const 1)))"
        ));
    }
    for i in 0..1600 {
        body.push_str(&format!("(br_if $l{i} (local.get 0))"));
    }
    body.push_str(&")".repeat(1600));
    let locals = vec!["i32"; 2000].join(" ");
    std::fs::write(
        &input,
        format!("(module (func (export \"f\") (local {locals}) {body}))"),
    )
    .unwrap();
    let out = lucetc(&[s(&input), "-o", s(&output)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is too complex to compile: more than 3000000 SSA values"),
        "{stderr}"
    );
    assert!(!output.exists());
}

#[test]
fn keygen_and_sign_make_a_file_the_public_key_verifies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = workdir("sign");
    let prefix = dir.join("release");
    let out = lucetc(&["--keygen", s(&prefix)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(dir.join("release.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the secret key is its owner's only");
    // Never over an existing key.
    let again = lucetc(&["--keygen", s(&prefix)]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("exists"), "{err}");

    let fac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fac.wat");
    let signed = dir.join("fac.lucet");
    let key = dir.join("release.key");
    let out = lucetc(&[s(&fac), "-o", s(&signed), "--sign", s(&key)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&signed).unwrap();
    let file = lucet_module::ModuleFile::parse(&bytes).unwrap();
    let public = lucet_module::PublicKey::from_file(dir.join("release.pub")).unwrap();
    lucet_module::verify_seal(&file.seal, &public).unwrap();
    let sig = file.seal.signature.as_deref().unwrap();
    assert!(
        sig.contains(&format!("lucet module {}", file.seal.hash)),
        "the trusted comment names the hash: {sig}"
    );

    // Bad keys are one line each, and nothing is written.
    std::fs::write(dir.join("junk.key"), "not a key\n").unwrap();
    for key in [dir.join("missing.key"), dir.join("junk.key")] {
        let out_path = dir.join("never.lucet");
        let out = lucetc(&[s(&fac), "-o", s(&out_path), "--sign", s(&key)]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!out_path.exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
