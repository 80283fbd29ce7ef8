use lucet_runtime::{Error, TrapCode, Val, Val::*};

use crate::common::*;

fn expect_trap(func: &str, args: &[Val], code: TrapCode) {
    let mut inst = instance("traps");
    match inst.run(func, args) {
        Err(Error::Trap {
            code: got,
            function,
            offset,
        }) => {
            assert_eq!(got, code, "{func}");
            assert!(!function.is_empty());
            assert!(
                offset > 0 || code == TrapCode::StackOverflow,
                "{func}: offset {offset}"
            );
        }
        other => panic!("{func}: expected {code:?}, got {other:?}"),
    }
    // The instance is usable after the trap, without a reset...
    assert_eq!(i32(&mut inst, "ok", &[]), 7);
    // ...and after one.
    inst.reset().unwrap();
    assert_eq!(i32(&mut inst, "ok", &[]), 7);
}

#[test]
fn every_trap_code_wasm_code_can_raise() {
    expect_trap("unreachable", &[], TrapCode::Unreachable);
    expect_trap("div_by_zero", &[I32(0)], TrapCode::IntegerDivisionByZero);
    expect_trap(
        "rem_by_zero_i64",
        &[I64(0)],
        TrapCode::IntegerDivisionByZero,
    );
    expect_trap("overflow", &[I32(-1)], TrapCode::IntegerOverflow);
    expect_trap(
        "bad_conversion",
        &[F32(f32::NAN)],
        TrapCode::BadConversionToInteger,
    );
    // Out of range is "integer overflow" in the specification.
    expect_trap("bad_conversion", &[F32(3e9)], TrapCode::IntegerOverflow);
    expect_trap("heap_oob", &[I32(65533)], TrapCode::HeapOutOfBounds);
    expect_trap("heap_oob", &[I32(-1)], TrapCode::HeapOutOfBounds);
    expect_trap("heap_oob_store", &[I32(65536)], TrapCode::HeapOutOfBounds);
    expect_trap("fill_oob", &[], TrapCode::HeapOutOfBounds);
    expect_trap("table_oob", &[], TrapCode::TableOutOfBounds);
    expect_trap("table_get_oob", &[], TrapCode::TableOutOfBounds);
    expect_trap("null_entry", &[], TrapCode::IndirectCallToNull);
    expect_trap("bad_signature", &[], TrapCode::BadSignature);
    expect_trap("recurse", &[I32(0)], TrapCode::StackOverflow);
    expect_trap("big_frame", &[I32(0)], TrapCode::StackOverflow);
}

#[test]
fn trap_errors_name_the_function() {
    let mut inst = instance("traps");
    let err = inst.run("div_by_zero", &[I32(0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "trap: integer divide by zero in \"div_by_zero\""
    );
}

#[test]
fn guest_stack_overflow_is_a_trap_again_and_again() {
    let mut inst = instance("traps");
    for _ in 0..20 {
        let err = inst.run("recurse", &[I32(0)]).unwrap_err();
        assert_eq!(err.trap_code(), Some(TrapCode::StackOverflow));
    }
    assert_eq!(i32(&mut inst, "ok", &[]), 7);
}

#[test]
fn traps_in_one_instance_leave_others_alone() {
    let region = lucet_runtime::MmapRegion::create(2, &Default::default()).unwrap();
    let module = load("traps");
    let mut a = region.new_instance(module.clone()).unwrap();
    let mut b = region.new_instance(module).unwrap();
    assert!(a.run("heap_oob", &[I32(70000)]).is_err());
    assert_eq!(i32(&mut b, "ok", &[]), 7);
    assert_eq!(i32(&mut a, "ok", &[]), 7);
}
