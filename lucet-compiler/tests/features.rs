//! The WebAssembly features lucetc accepts, and the ones it refuses.

use lucet_compiler::{CompileOptions, Compiler, Error};

fn compile(wat: &str) -> Result<(), Error> {
    let c = Compiler::new(CompileOptions::default())?;
    c.compile(wat.as_bytes()).map(|_| ())
}

#[test]
fn webassembly_2_features_compile() {
    let modules = [
        // sign extension
        "(module (func (param i32) (result i32) (i32.extend8_s (local.get 0))))",
        // non-trapping float-to-int
        "(module (func (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0))))",
        // multi-value
        "(module (func (result i32 i64) (i32.const 1) (i64.const 2)))",
        // mutable global import/export
        r#"(module (import "m" "g" (global (mut i32))) (global (export "h") (mut i64) (i64.const 0)))"#,
        // bulk memory
        "(module (memory 1) (data \"x\") (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)) (data.drop 0)))",
        // reference types
        "(module (table 1 externref) (func (param externref) (table.set 0 (i32.const 0) (local.get 0))))",
        // SIMD
        "(module (func (param v128) (result v128) (i32x4.add (local.get 0) (local.get 0))))",
    ];
    for m in modules {
        compile(m).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
}

#[test]
fn later_proposals_are_refused_cleanly() {
    for m in [
        "(module (func (return_call 0)))",
        "(module (memory i64 1))",
        "(module (memory 1 1 shared))",
    ] {
        let err = compile(m).unwrap_err();
        assert!(
            matches!(err, Error::InvalidFromText { .. } | Error::Unsupported(_)),
            "{m}: {err}"
        );
    }
}

#[test]
fn initial_memory_larger_than_the_reservation_is_refused() {
    let c = Compiler::new(CompileOptions {
        reserved_size: 1 << 20,
        ..Default::default()
    })
    .unwrap();
    let err = c.compile(b"(module (memory 32))").err().unwrap();
    assert!(err.to_string().contains("--reserved-size"), "{err}");
}
