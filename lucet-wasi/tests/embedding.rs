//! WASI through the library, as an embedder uses it: captured stdout, bad
//! guest pointers, proc_exit.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lucet_runtime::ExitCode;
use lucet_runtime::{Error, Limits, Linker, MmapRegion, Val};
use lucet_wasi::{Stream, WasiCtxBuilder};

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, host\n")
  ;; iovec at 0: buf 16, len 12
  (data (i32.const 0) "\10\00\00\00\0c\00\00\00")
  (func (export "hello") (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))
  (func (export "iovec_out_of_bounds") (result i32)
    (call $fd_write (i32.const 1) (i32.const 65530) (i32.const 1) (i32.const 32)))
  (func (export "buffer_out_of_bounds") (result i32)
    (i32.store (i32.const 40) (i32.const 65000))
    (i32.store (i32.const 44) (i32.const 1000))
    (call $fd_write (i32.const 1) (i32.const 40) (i32.const 1) (i32.const 32)))
  (func (export "result_out_of_bounds") (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const -1)))
  (func (export "args_out_of_bounds") (result i32)
    (call $args_get (i32.const 65534) (i32.const 100)))
  (func (export "bad_fd") (result i32)
    (call $fd_write (i32.const 77) (i32.const 0) (i32.const 1) (i32.const 32)))
  (func (export "exit") (param i32) (call $proc_exit (local.get 0)))
)"#;

fn instance(stdout: Captured) -> lucet_runtime::InstanceHandle {
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let elf = lucet_compiler::Compiler::new(Default::default())
        .unwrap()
        .compile(GUEST.as_bytes())
        .unwrap()
        .to_elf()
        .unwrap();
    let module = lucet_runtime::Module::from_bytes(&elf, "guest", &linker).unwrap();
    let ctx = WasiCtxBuilder::new()
        .arg("guest")
        .stdout(Stream::Writer(Box::new(stdout)))
        .build();
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    region
        .new_instance_builder(module)
        .with_embed_ctx(ctx)
        .build()
        .unwrap()
}

fn errno(inst: &mut lucet_runtime::InstanceHandle, f: &str) -> i32 {
    let r = inst.run(f, &[]).unwrap().returned().unwrap();
    r[0].as_i32().unwrap()
}

#[test]
fn stdout_can_be_captured() {
    let out = Captured::default();
    let mut inst = instance(out.clone());
    assert_eq!(errno(&mut inst, "hello"), 0);
    assert_eq!(&*out.0.lock().unwrap(), b"hello, host\n");
}

#[test]
fn bad_guest_pointers_are_efault_and_nothing_is_written() {
    let out = Captured::default();
    let mut inst = instance(out.clone());
    const EFAULT: i32 = 21;
    for f in [
        "iovec_out_of_bounds",
        "buffer_out_of_bounds",
        "result_out_of_bounds",
        "args_out_of_bounds",
    ] {
        assert_eq!(errno(&mut inst, f), EFAULT, "{f}");
    }
    assert_eq!(errno(&mut inst, "bad_fd"), 8, "EBADF");
    assert!(out.0.lock().unwrap().is_empty());
}

#[test]
fn proc_exit_terminates_with_the_code() {
    let mut inst = instance(Captured::default());
    match inst.run("exit", &[Val::I32(3)]) {
        Err(Error::Terminated(d)) => assert_eq!(d.provided::<ExitCode>(), Some(&ExitCode(3))),
        other => panic!("{other:?}"),
    }
}
