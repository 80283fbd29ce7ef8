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
fn traps_in_internal_functions_name_them_from_the_name_section() {
    let wat = r#"(module
        (func $inner_division (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
        (func $line\nbreak (param i32) (result i32) (call $inner_division (local.get 0)))
        (func (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
        (func (export "named") (param i32) (result i32) (call $line\nbreak (local.get 0)))
        (func (export "unnamed") (param i32) (result i32) (call 2 (local.get 0))))"#;
    let module = lucet_runtime::Module::from_bytes(
        &compile_bytes(wat.as_bytes()),
        "names",
        &lucet_runtime::Linker::new(),
    )
    .unwrap();
    assert_eq!(module.function_name(0), "inner_division");
    assert_eq!(module.function_name(1), r"line\\nbreak");
    assert_eq!(module.function_name(2), "func[2]");
    assert_eq!(module.function_name(3), "named");
    assert_eq!(module.function_name(99), "func[99]");
    let region = region();
    let mut inst = region.new_instance(module).unwrap();
    let err = inst.run("named", &[I32(0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "trap: integer divide by zero in \"inner_division\""
    );
    let err = inst.run("unnamed", &[I32(0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "trap: integer divide by zero in \"func[2]\""
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

/// Set in the child process of `explicit_traps_and_kills_take_no_signal`.
const NO_SIGILL_CHILD: &str = "LUCET_TEST_NO_SIGILL_CHILD";

#[test]
fn explicit_traps_and_kills_take_no_signal() {
    // With SIGILL blocked, a trapping `ud2` kills the process (the kernel
    // cannot deliver a synchronous signal that is blocked), so this runs in
    // a child process: it exits cleanly only if none of these traps and
    // kills went through a faulting instruction.
    if std::env::var_os(NO_SIGILL_CHILD).is_some() {
        no_sigill_child();
        return;
    }
    let out = this_test_binary()
        .args([
            "traps::explicit_traps_and_kills_take_no_signal",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NO_SIGILL_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("no signal taken"),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn no_sigill_child() {
    // SAFETY: a zeroed sigset_t is valid input to sigemptyset; the mask
    // change affects this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGILL);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
            0
        );
    }
    for (func, code) in [
        ("unreachable", TrapCode::Unreachable),
        ("fill_oob", TrapCode::HeapOutOfBounds),
        ("table_oob", TrapCode::TableOutOfBounds),
        ("table_get_oob", TrapCode::TableOutOfBounds),
        ("null_entry", TrapCode::IndirectCallToNull),
        ("bad_signature", TrapCode::BadSignature),
    ] {
        let mut inst = instance("traps");
        let err = inst.run(func, &[]).unwrap_err();
        assert_eq!(err.trap_code(), Some(code), "{func}");
    }
    // A kill stops a loop at its header the same way.
    let module = load_with("spin", &{
        let mut l = lucet_runtime::Linker::new();
        l.func("env", "wait", |_: &mut lucet_runtime::Vmctx| {});
        l.func("env", "hold", |_: &mut lucet_runtime::Vmctx| {});
        l
    });
    let mut inst = region().new_instance(module).unwrap();
    run_killed_after_20ms(&mut inst, "forever");
    println!("no signal taken");
}
