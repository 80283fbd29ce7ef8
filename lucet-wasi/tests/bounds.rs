//! What a guest can make the host spend through WASI is bounded by what it
//! legitimately touches: iovec counts (IOV_MAX), path lengths (PATH_MAX),
//! poll subscriptions, and open descriptors per program.

use lucet_runtime::{InstanceHandle, Limits, Linker, MmapRegion, Val};
use lucet_wasi::WasiCtxBuilder;

const EINVAL: i32 = 28;
const EMFILE: i32 = 33;
const ENAMETOOLONG: i32 = 37;

const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 16384)
  (data (i32.const 0) ".")
  ;; fd_write to stdout with `count` iovecs at 4096 (zero-length ones over
  ;; untouched memory unless written).
  (func (export "write") (param $count i32) (result i32)
    (call $fd_write (i32.const 1) (i32.const 4096) (local.get $count) (i32.const 64)))
  ;; path_open of `len` bytes at 0 in the preopen (fd 3), read-only.
  (func (export "open") (param $len i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (local.get $len)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 64)))
  (func (export "poll") (param $n i32) (result i32)
    (call $poll (i32.const 4096) (i32.const 8192) (local.get $n) (i32.const 64))))"#;

fn instance(dir: &std::path::Path, max_open_files: Option<usize>) -> InstanceHandle {
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let elf = lucet_compiler::Compiler::new(Default::default())
        .unwrap()
        .compile(GUEST.as_bytes())
        .unwrap()
        .to_elf()
        .unwrap();
    let module = lucet_runtime::Module::from_bytes(&elf, "bounds", &linker).unwrap();
    let mut ctx = WasiCtxBuilder::new()
        .stdout(lucet_wasi::Stream::Null)
        .preopened_dir(dir, "/")
        .unwrap();
    if let Some(n) = max_open_files {
        ctx = ctx.max_open_files(n);
    }
    let limits = Limits {
        heap_memory_size: 1 << 30,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    region
        .new_instance_builder(module)
        .with_embed_ctx(ctx.build())
        .build()
        .unwrap()
}

fn call(inst: &mut InstanceHandle, name: &str, arg: i32) -> i32 {
    match inst
        .run(name, &[Val::I32(arg)])
        .unwrap()
        .returned()
        .unwrap()[..]
    {
        [Val::I32(r)] => r,
        ref other => panic!("{name}: {other:?}"),
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn huge_iovec_arrays_are_refused_without_host_memory() {
    let dir = std::env::temp_dir();
    let mut inst = instance(&dir, None);
    // 128M iovecs (1 GiB of iovec array): refused before the host copies
    // or allocates anything for them.
    let before = rss();
    assert_eq!(call(&mut inst, "write", 128 << 20), EINVAL);
    assert_eq!(call(&mut inst, "write", 1025), EINVAL);
    assert!(
        rss() < before + (16 << 20),
        "RSS grew from {before} to {}",
        rss()
    );
    // IOV_MAX of them is fine.
    assert_eq!(call(&mut inst, "write", 1024), 0);
}

#[test]
fn paths_longer_than_path_max_are_enametoolong() {
    let dir = std::env::temp_dir();
    let mut inst = instance(&dir, None);
    let before = rss();
    assert_eq!(call(&mut inst, "open", 1 << 30), ENAMETOOLONG);
    assert_eq!(call(&mut inst, "open", 4097), ENAMETOOLONG);
    assert!(rss() < before + (16 << 20));
    // "." (the preopen itself) opens.
    assert_eq!(call(&mut inst, "open", 1), 0);
}

#[test]
fn poll_subscriptions_are_bounded() {
    let dir = std::env::temp_dir();
    let mut inst = instance(&dir, None);
    assert_eq!(call(&mut inst, "poll", 4097), EINVAL);
    assert_eq!(call(&mut inst, "poll", 1 << 24), EINVAL);
}

#[test]
fn open_descriptors_are_limited_per_program() {
    let dir = std::env::temp_dir();
    // stdio and the preopen take 4 of the 10.
    let mut inst = instance(&dir, Some(10));
    for _ in 0..6 {
        assert_eq!(call(&mut inst, "open", 1), 0);
    }
    assert_eq!(call(&mut inst, "open", 1), EMFILE);
    // The default is 1,024: the host's own limit is never reached by one
    // program.
    let mut inst = instance(&dir, None);
    let mut opened = 0;
    while call(&mut inst, "open", 1) == 0 {
        opened += 1;
        assert!(opened <= 1020, "more than 1,020 descriptors opened");
    }
    assert_eq!(opened, 1020);
}
