use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{InstanceHandle, Limits, Linker, MmapRegion, Module, Val};

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| Compiler::new(CompileOptions::default()).expect("compiler"))
}

/// Path of a test module.
pub fn wat_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wat")
        .join(format!("{name}.wat"))
}

/// The compiled ELF file of `tests/wat/NAME.wat`.
pub fn compile(name: &str) -> Vec<u8> {
    let text = std::fs::read(wat_path(name)).expect("read .wat");
    compiler()
        .compile(&text)
        .unwrap_or_else(|e| panic!("compile {name}: {e}"))
        .to_elf()
        .expect("ELF")
}

/// Compiles bytes (text or binary) to an ELF file.
pub fn compile_bytes(bytes: &[u8]) -> Vec<u8> {
    compiler()
        .compile(bytes)
        .expect("compile")
        .to_elf()
        .expect("ELF")
}

/// `tests/wat/NAME.wat`, compiled and loaded with `linker`.
pub fn load_with(name: &str, linker: &Linker) -> Arc<Module> {
    Module::from_bytes(&compile(name), name, linker).unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// `tests/wat/NAME.wat`, compiled and loaded without imports.
pub fn load(name: &str) -> Arc<Module> {
    load_with(name, &Linker::new())
}

/// A one-slot region with default limits.
pub fn region() -> Arc<MmapRegion> {
    MmapRegion::create(1, &Limits::default()).expect("region")
}

/// An instance of `tests/wat/NAME.wat` without imports.
pub fn instance(name: &str) -> InstanceHandle {
    region().new_instance(load(name)).expect("instantiate")
}

/// Runs `func` (which must loop forever) and kills it from another thread
/// after 20 ms: the run must end as stopped by the kill switch.
pub fn run_killed_after_20ms(inst: &mut InstanceHandle, func: &str) {
    let ks = inst.kill_switch();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        ks.terminate()
    });
    let r = inst.run(func, &[]);
    killer.join().unwrap().unwrap();
    assert!(
        matches!(
            r,
            Err(lucet_runtime::Error::Terminated(
                lucet_runtime::TerminationDetails::Remote
            ))
        ),
        "{r:?}"
    );
}

/// Runs `func` and returns its single result.
pub fn call(inst: &mut InstanceHandle, func: &str, args: &[Val]) -> Val {
    let mut r = inst
        .run(func, args)
        .unwrap_or_else(|e| panic!("{func}: {e}"))
        .returned()
        .expect("returned");
    assert_eq!(r.len(), 1, "{func} returns one value");
    r.pop().unwrap()
}

pub fn i32(inst: &mut InstanceHandle, func: &str, args: &[Val]) -> i32 {
    call(inst, func, args).as_i32().expect("i32 result")
}

pub fn i64(inst: &mut InstanceHandle, func: &str, args: &[Val]) -> i64 {
    call(inst, func, args).as_i64().expect("i64 result")
}

pub fn f32(inst: &mut InstanceHandle, func: &str, args: &[Val]) -> f32 {
    match call(inst, func, args) {
        Val::F32(v) => v,
        other => panic!("{func}: expected f32, got {other:?}"),
    }
}

pub fn f64(inst: &mut InstanceHandle, func: &str, args: &[Val]) -> f64 {
    match call(inst, func, args) {
        Val::F64(v) => v,
        other => panic!("{func}: expected f64, got {other:?}"),
    }
}

/// A command that runs this test binary again, as a child process. Under
/// user-mode emulation (an aarch64 build's tests run on x86_64 by
/// qemu-aarch64-static, as `.ci/run` does) the kernel cannot run the
/// binary itself, so the child goes through the emulator named by
/// `LUCET_TEST_EMULATOR` (a command and its arguments).
pub fn this_test_binary() -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let emulator = std::env::var("LUCET_TEST_EMULATOR").unwrap_or_default();
    let mut words = emulator.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = std::process::Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => std::process::Command::new(exe),
    }
}
