//! The WebAssembly features lucetc accepts, and the ones it refuses.

use lucet_compiler::{CompileOptions, Compiler, Error, Standard};

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
fn webassembly_3_features_compile() {
    let modules = [
        // tail calls
        "(module (func $f (result i32) (return_call $f)))",
        // memory64 and table64
        "(module (memory i64 1) (table i64 1 funcref) (func (param i64) (result i32) (i32.load (local.get 0))))",
        // multi-memory
        "(module (memory 1) (memory $b 1) (func (result i32) (i32.load $b (i32.const 0))))",
        // typed function references
        "(module (type $t (func (result i32))) (func (param (ref $t)) (result i32) (call_ref $t (local.get 0))))",
        // extended constant expressions
        "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
        // relaxed SIMD
        "(module (func (param v128 v128) (result v128) (i8x16.relaxed_swizzle (local.get 0) (local.get 1))))",
    ];
    for m in modules {
        compile(m).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
}

#[test]
fn gc_compiles_and_threads_are_refused_cleanly() {
    for m in [
        "(module (type (struct (field i32))))",
        "(module (func (param i32) (result i31ref) (ref.i31 (local.get 0))))",
        "(module (rec (type (func)) (type (func))))",
        "(module (type $s (sub (struct))) (func (param anyref) (result i32) (ref.test (ref $s) (local.get 0))))",
        "(module (type $s (struct (field i32))) (func (result anyref) (struct.new $s (i32.const 1))))",
        "(module (type $a (array i8)) (func (result anyref) (array.new_default $a (i32.const 1))))",
        "(module (type $s (struct)) (global anyref (struct.new $s)))",
        "(module (func (param externref) (result anyref) (any.convert_extern (local.get 0))))",
    ] {
        compile(m).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
    let err = compile("(module (memory 1 1 shared))").unwrap_err();
    assert!(matches!(err, Error::InvalidFromText { .. }), "{err}");
}

#[test]
fn webassembly_2_refuses_what_came_later() {
    let c = Compiler::new(CompileOptions {
        standard: Standard::Wasm2,
        ..Default::default()
    })
    .unwrap();
    for m in [
        "(module (func (return_call 0)))",
        "(module (memory i64 1))",
        "(module (memory 1) (memory 1))",
    ] {
        let err = c.compile(m.as_bytes()).err().expect("refused");
        assert!(matches!(err, Error::InvalidFromText { .. }), "{m}: {err}");
    }
}
