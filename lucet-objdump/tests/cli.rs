//! `lucet-objdump` on real compiled files and on bad input.

use std::process::Command;

fn objdump(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-objdump"))
        .arg(path)
        .output()
        .expect("run lucet-objdump")
}

fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lucet-objdump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn prints_the_metadata_of_a_module() {
    let wat = r#"(module
        (import "env" "log" (func $log (param i32)))
        (memory (export "mem") 2 10)
        (data (i32.const 4096) "hi")
        (global $g (mut i32) (i32.const 7))
        (table 2 funcref)
        (elem (i32.const 0) $div)
        (func $div (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))"#;
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let out = objdump(&temp("m.lucet", &elf));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let version = format!("format version: {}", lucet_module::FORMAT_VERSION);
    for expected in [
        version.as_str(),
        "interruptible:  yes",
        "fuel:           not counted",
        "[0] 32-bit, initial 2 pages (128 KiB), maximum 10 pages",
        "reserved 4 GiB, guard 4 GiB, bounds checks: none (guard pages)",
        "memory image: 1 chunk(s), 4 KiB stored",
        "heap 0x00001000..0x00002000",
        "[0] mut i32 = i32.const 7",
        "[0] funcref min 2 max none",
        // $div, in the table and exported.
        "function references: 1 (functions a table, export or ref.func can name; 24 bytes",
        "func env.log: (i32) -> ()",
        "div: func [1] (i32, i32) -> i32",
        "guest_func_div",
        "integer divide by zero",
        "guest_import_env.log",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn prints_memories_tags_typed_tables_and_handlers() {
    let wat = r#"(module
        (import "env" "t" (tag (param i64)))
        (type $f (func (param i32) (result i32)))
        (memory (export "a") 1 2)
        (memory (export "b") i64 1)
        (table 1 (ref $f) (ref.func $catch))
        (tag $e (export "e") (param i32))
        (func $catch (export "catch") (type $f)
          (block $h (result i32)
            (try_table (result i32) (catch $e $h) (throw $e (local.get 0))))))"#;
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let out = objdump(&temp("wasm3.lucet", &elf));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "memories: 2",
        "[0] 32-bit, initial 1 pages (64 KiB), maximum 2 pages",
        "[1] 64-bit, initial 1 pages (64 KiB), maximum none",
        "bounds checks: explicit",
        "[0] (ref 0) min 1 max none, elements ref.func 0",
        "tags: 2",
        "[0] (i64) -> (), imported from env.t",
        "[1] (i32) -> ()",
        "e: tag [1]",
        "b: memory [1]",
        "catches: tag 1 -> +0x",
        "lucet_builtin_throw",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn the_type_section_shows_groups_and_subtypes() {
    let wat = r#"(module
        (type $f (func (param i32) (result i32)))
        (rec
          (type $node (sub (struct (field i32) (field (ref null $list)))))
          (type $list (sub final $node (struct (field i32) (field (ref null $list)) (field (mut i8))))))
        (type $bytes (array (mut i8)))
        (func (export "f") (type $f) (local.get 0)))"#;
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let out = objdump(&temp("types.lucet", &elf));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "types: 4 in 3 recursive group(s)",
        "  [0] (i32) -> i32",
        "  rec group of 2:",
        "    [1] sub: struct (i32, (ref null 2))",
        "    [2] sub final 1: struct (i32, (ref null 2), (mut i8))",
        "  [3] array (mut i8)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn calls_show_where_their_frames_keep_gc_references() {
    // `$y` is live across the call to `$f` (a safepoint), `$n` is not a
    // reference: one slot in the call's stack map.
    let wat = r#"(module
        (type $cell (struct (field i32)))
        (import "env" "f" (func $f))
        (func (export "keep") (param $n i32) (result i32)
          (local $y (ref null $cell))
          (local.set $y (struct.new $cell (local.get $n)))
          (call $f)
          (struct.get $cell 0 (ref.as_non_null (local.get $y)))))"#;
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let out = objdump(&temp("maps.lucet", &elf));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let maps: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("keeps GC references"))
        .collect();
    assert_eq!(maps.len(), 1, "{text}");
    assert!(
        maps[0].contains("keeps GC references at sp+"),
        "{}",
        maps[0]
    );
    assert_eq!(maps[0].matches("sp+").count(), 1, "{}", maps[0]);
}

#[test]
fn bad_input_is_a_one_line_error() {
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("text", &b"hello"[..]),
        (
            "elf-header-only",
            &b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"[..],
        ),
    ] {
        let out = objdump(&temp(name, bytes));
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
    }
    let out = objdump(std::path::Path::new("/nonexistent/file"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn names_the_guest_chose_are_escaped() {
    let wat = "(module
        (import \"env\\nerror: fake\" \"x\\u{1b}[31m\" (func))
        (func (export \"x\\nerror: fake second line\\u{1b}[31m\"))
        (func (export \"y\\u{202e}\")))";
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let out = objdump(&temp("names.lucet", &elf));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\x1b') && !text.contains('\u{202e}'),
        "raw control characters in:\n{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("error: fake")),
        "{text}"
    );
    for expected in [
        "func env\\u{a}error: fake.x\\u{1b}[31m: () -> ()",
        "x\\u{a}error: fake second line\\u{1b}[31m: func [1]",
        "y\\u{202e}: func [2]",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_report_quietly() {
    use std::process::Stdio;
    let wat = r#"(module (func (export "f")))"#;
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let elf = compiler.compile(wat.as_bytes()).unwrap().to_elf().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucet-objdump"))
        .arg(temp("gone.lucet", &elf))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before anything is written (`| head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn prints_the_structure_of_a_component() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/components/hello-http.wasm");
    let out = objdump(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("kind:           a wasi:http/proxy\n"),
        "{text}"
    );
    assert!(text.contains("  wasi:http/incoming-handler@0.2."), "{text}");
    assert!(text.contains("core modules: 3\n"), "{text}");
    assert!(text.contains("  lift: 1\n"), "{text}");
}

#[test]
fn a_compiled_component_shows_its_interface_in_wit_terms() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/components/hello-cli.wasm");
    let compiler = lucet_compiler::Compiler::new(Default::default()).unwrap();
    let wasm = std::fs::read(path).unwrap();
    let elf = compiler.compile(&wasm).unwrap().to_elf().unwrap();
    let out = objdump(&temp("component.lucet", &elf));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("component: compiled from a WebAssembly component\n"),
        "{text}"
    );
    for expected in [
        "#run: func() -> result\n",
        " get-stdout: func() -> output-stream\n",
        " get-arguments: func() -> list<string>\n",
        " [method]output-stream.write: func(self: borrow<output-stream>, contents: list<u8>) \
         -> result<_, variant { last-operation-failed(error), closed }>\n",
        " [resource-drop]output-stream: drops a handle\n",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}
