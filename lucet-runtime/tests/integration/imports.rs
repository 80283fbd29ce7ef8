use std::sync::{Arc, Mutex};

use lucet_runtime::{Error, FuncType, Linker, Module, TerminationDetails, Val::*, ValType, Vmctx};

use crate::common::*;

/// Host functions for `imports.wat`; `log` records what it read.
fn linker(log: Arc<Mutex<Vec<String>>>) -> Linker {
    let mut l = Linker::new();
    l.func("env", "add", |_: &mut Vmctx, a: i32, b: i32| {
        a.wrapping_add(b)
    });
    l.func(
        "env",
        "log",
        move |vmctx: &mut Vmctx, ptr: u32, len: u32| {
            let entry = match vmctx.read(ptr, len) {
                Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Err(e) => format!("error: {e}"),
            };
            log.lock().unwrap().push(entry);
        },
    );
    l.func("env", "divmod", |_: &mut Vmctx, a: i64, b: i64| {
        (a / b, a % b)
    });
    l.func_dynamic(
        "env",
        "scale",
        FuncType::new([ValType::F64], [ValType::F64]),
        |_, args, results| {
            if let F64(x) = args[0] {
                results[0] = F64(x * 2.5);
            }
        },
    );
    l.func("env", "fail", fail);
    l.func("env", "quit", quit);
    l
}

fn fail(_: &mut Vmctx) {
    panic!("host function failed on purpose");
}

fn quit(vmctx: &mut Vmctx, code: i32) {
    vmctx.terminate(code)
}

#[test]
fn guest_calls_host_functions() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut inst = region()
        .new_instance(load_with("imports", &linker(log.clone())))
        .unwrap();
    assert_eq!(i32(&mut inst, "add_via_host", &[I32(40), I32(2)]), 42);
    assert_eq!(i32(&mut inst, "add_indirect", &[I32(40), I32(3)]), 43);
    inst.run("log_hello", &[]).unwrap();
    inst.run("log_out_of_bounds", &[]).unwrap();
    let r = inst
        .run("divmod", &[I64(47), I64(10)])
        .unwrap()
        .returned()
        .unwrap();
    assert_eq!(r, vec![I64(4), I64(7)]);
    assert_eq!(f64(&mut inst, "scale", &[F64(2.0)]), 5.0);
    let log = log.lock().unwrap();
    assert_eq!(log[0], "hello from the guest");
    assert!(
        log[1].starts_with("error: guest memory access out of bounds"),
        "{}",
        log[1]
    );
}

#[test]
fn a_panicking_host_function_ends_the_run_with_an_error() {
    let mut inst = region()
        .new_instance(load_with("imports", &linker(Default::default())))
        .unwrap();
    match inst.run("fail", &[]) {
        Err(Error::Terminated(TerminationDetails::HostPanic(m))) => {
            assert_eq!(m, "host function failed on purpose")
        }
        other => panic!("expected a host panic, got {other:?}"),
    }
    // The instance is still usable.
    assert_eq!(i32(&mut inst, "add_via_host", &[I32(1), I32(2)]), 3);
}

#[test]
fn a_host_function_terminates_the_instance() {
    let mut inst = region()
        .new_instance(load_with("imports", &linker(Default::default())))
        .unwrap();
    match inst.run("quit", &[I32(3)]) {
        Err(Error::Terminated(details)) => assert_eq!(details.provided::<i32>(), Some(&3)),
        other => panic!("expected termination, got {other:?}"),
    }
}

#[test]
fn unknown_imports_are_load_errors() {
    let err = Module::from_bytes(&compile("imports"), "imports", &Linker::new()).unwrap_err();
    assert_eq!(err.to_string(), "unknown import env.add");
}

#[test]
fn import_signatures_are_checked_at_load_time() {
    let mut l = Linker::new();
    l.func("env", "foo", |_: &mut Vmctx, x: i64| x as i32);
    let err = Module::from_bytes(&compile("import_mismatch"), "m", &l).unwrap_err();
    assert_eq!(
        err.to_string(),
        "import env.foo: module expects (i32) -> i32, host provides (i64) -> i32"
    );
    let mut l = Linker::new();
    l.func("env", "foo", |_: &mut Vmctx, x: i32| x as i64);
    let err = Module::from_bytes(&compile("import_mismatch"), "m", &l).unwrap_err();
    assert_eq!(
        err.to_string(),
        "import env.foo: module expects (i32) -> i32, host provides (i32) -> i64"
    );
    let mut l = Linker::new();
    l.func("env", "foo", |_: &mut Vmctx, x: i32| x);
    Module::from_bytes(&compile("import_mismatch"), "m", &l).unwrap();
}

#[test]
fn unknown_imports_can_default_to_zero() {
    let mut l = Linker::new();
    l.default_unknown_imports(true);
    let mut inst = region()
        .new_instance(Module::from_bytes(&compile("imports"), "imports", &l).unwrap())
        .unwrap();
    assert_eq!(i32(&mut inst, "add_via_host", &[I32(1), I32(2)]), 0);
    let r = inst
        .run("divmod", &[I64(7), I64(2)])
        .unwrap()
        .returned()
        .unwrap();
    assert_eq!(r, vec![I64(0), I64(0)]);
}
