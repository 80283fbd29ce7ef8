//! WASI rights are enforced for directories: a directory preopened with
//! `DirAccess::ReadOnly` can be read, but nothing in it can be created,
//! written, truncated, renamed, removed or have its times or size changed
//! (`ENOTCAPABLE`, and the directory is left exactly as it was); with
//! `DirAccess::ReadWrite` the same calls succeed.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use lucet_runtime::{InstanceHandle, Limits, Linker, MmapRegion, Val};
use lucet_wasi::{DirAccess, WasiCtxBuilder};

const ENOTCAPABLE: i32 = 76;

/// Calls `wasi_snapshot_preview1` directly on the preopened directory
/// (fd 3); every export returns the errno of its last call.
const GUEST: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get"
    (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times"
    (func $fd_filestat_set_times (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate"
    (func $fd_allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_datasync"
    (func $fd_datasync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times"
    (func $path_filestat_set_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink"
    (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory"
    (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link"
    (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; Names.
  (data (i32.const 0) "f.txt")
  (data (i32.const 16) "new.txt")
  (data (i32.const 32) "newdir")
  (data (i32.const 48) "sub")
  (data (i32.const 64) "moved.txt")
  (data (i32.const 80) "link")
  (data (i32.const 96) "hard")
  (data (i32.const 112) "HELLO")
  (data (i32.const 144) "sym")
  ;; iovec at 128: the read buffer (2048, 64 bytes).
  (data (i32.const 128) "\00\08\00\00\40\00\00\00")
  ;; iovec at 136: "HELLO" (112, 5 bytes).
  (data (i32.const 136) "\70\00\00\00\05\00\00\00")
  ;; 1024: an opened fd. 1028: bytes read. 1032: readdir/readlink sizes.
  ;; 1100: the directory's fdstat. 1200: a filestat. 2048: read buffer.
  ;; 3072: readlink buffer. 4096: readdir buffer.

  ;; rights: FD_DATASYNC 0x1, FD_READ 0x2, FD_WRITE 0x40, FD_ALLOCATE 0x100,
  ;;   FD_FILESTAT_SET_SIZE 0x400000, FD_FILESTAT_SET_TIMES 0x800000.
  ;; oflags: CREAT 1, EXCL 4, TRUNC 8. fdflags: APPEND 1.
  ;; fstflags: ATIM | MTIM = 5 (both set to the timestamps given, here 0).

  ;; `wanted` within the rights the directory passes on, as wasi-libc
  ;; asks for them.
  (func $within_inheriting (param $wanted i64) (result i64)
    (if (call $fd_fdstat_get (i32.const 3) (i32.const 1100)) (then unreachable))
    (i64.and (local.get $wanted) (i64.load (i32.const 1116))))

  ;; path_open in the directory; the new fd goes to 1024.
  (func $open (param $path i32) (param $len i32) (param $oflags i32)
      (param $rights i64) (param $fdflags i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (local.get $len)
      (local.get $oflags) (local.get $rights) (i64.const 0) (local.get $fdflags)
      (i32.const 1024)))
  (func $opened (result i32) (i32.load (i32.const 1024)))

  ;; f.txt, with FD_READ and every right to change it that the directory
  ;; passes on.
  (func $open_f_for_changes (result i32)
    (call $open (i32.const 0) (i32.const 5) (i32.const 0)
      (call $within_inheriting (i64.const 0xc00143)) (i32.const 0)))

  ;; Reading.
  (func (export "read_f") (result i32) (local $e i32)
    (local.set $e (call $open (i32.const 0) (i32.const 5) (i32.const 0)
      (call $within_inheriting (i64.const 2)) (i32.const 0)))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_read (call $opened) (i32.const 128) (i32.const 1) (i32.const 1028)))
  (func (export "nread") (result i32) (i32.load (i32.const 1028)))
  (func (export "stat_f") (result i32)
    (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 5)
      (i32.const 1200)))
  (func (export "readlink_sym") (result i32)
    (call $path_readlink (i32.const 3) (i32.const 144) (i32.const 3) (i32.const 3072)
      (i32.const 64) (i32.const 1032)))
  (func (export "list") (result i32)
    (call $fd_readdir (i32.const 3) (i32.const 4096) (i32.const 1024) (i64.const 0)
      (i32.const 1032)))

  ;; Opening for writing.
  (func (export "open_f_with_fd_write") (result i32)
    (call $open (i32.const 0) (i32.const 5) (i32.const 0) (i64.const 0x42) (i32.const 0)))
  (func (export "write_f") (result i32) (local $e i32)
    (local.set $e (call $open (i32.const 0) (i32.const 5) (i32.const 0)
      (i64.const 0x42) (i32.const 0)))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_write (call $opened) (i32.const 136) (i32.const 1) (i32.const 1028)))
  (func (export "truncate_f") (result i32)
    (call $open (i32.const 0) (i32.const 5) (i32.const 8)
      (call $within_inheriting (i64.const 2)) (i32.const 0)))
  ;; fopen("f.txt", "w"): O_WRONLY | O_CREAT | O_TRUNC.
  (func (export "fopen_w_f") (result i32)
    (call $open (i32.const 0) (i32.const 5) (i32.const 9)
      (call $within_inheriting (i64.const 0x400141)) (i32.const 0)))
  ;; open("new.txt", O_WRONLY | O_CREAT | O_EXCL).
  (func (export "create_new") (result i32)
    (call $open (i32.const 16) (i32.const 7) (i32.const 5)
      (call $within_inheriting (i64.const 0x400141)) (i32.const 0)))
  ;; open("f.txt", O_WRONLY | O_APPEND); then (append_f) writes "HELLO".
  (func $open_f_for_appending (export "open_f_for_appending") (result i32)
    (call $open (i32.const 0) (i32.const 5) (i32.const 0)
      (call $within_inheriting (i64.const 0x40)) (i32.const 1)))
  (func (export "append_f") (result i32) (local $e i32)
    (local.set $e (call $open_f_for_appending))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_write (call $opened) (i32.const 136) (i32.const 1) (i32.const 1028)))

  ;; Changing the directory.
  (func (export "mkdir") (result i32)
    (call $path_create_directory (i32.const 3) (i32.const 32) (i32.const 6)))
  (func (export "unlink_f") (result i32)
    (call $path_unlink_file (i32.const 3) (i32.const 0) (i32.const 5)))
  (func (export "rename_f") (result i32)
    (call $path_rename (i32.const 3) (i32.const 0) (i32.const 5)
      (i32.const 3) (i32.const 64) (i32.const 9)))
  (func (export "symlink") (result i32)
    (call $path_symlink (i32.const 0) (i32.const 5) (i32.const 3) (i32.const 80) (i32.const 4)))
  (func (export "hard_link") (result i32)
    (call $path_link (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 5)
      (i32.const 3) (i32.const 96) (i32.const 4)))
  (func (export "rmdir") (result i32)
    (call $path_remove_directory (i32.const 3) (i32.const 48) (i32.const 3)))
  (func (export "set_times_f") (result i32)
    (call $path_filestat_set_times (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 5)
      (i64.const 0) (i64.const 0) (i32.const 5)))
  (func (export "set_times_dir") (result i32)
    (call $fd_filestat_set_times (i32.const 3) (i64.const 0) (i64.const 0) (i32.const 5)))

  ;; Changing a file through its descriptor.
  (func (export "fd_set_size_f") (result i32) (local $e i32)
    (local.set $e (call $open_f_for_changes))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_filestat_set_size (call $opened) (i64.const 0)))
  (func (export "fd_allocate_f") (result i32) (local $e i32)
    (local.set $e (call $open_f_for_changes))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_allocate (call $opened) (i64.const 0) (i64.const 100)))
  (func (export "fd_set_times_f") (result i32) (local $e i32)
    (local.set $e (call $open_f_for_changes))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_filestat_set_times (call $opened) (i64.const 0) (i64.const 0) (i32.const 5)))
  (func (export "fd_datasync_f") (result i32) (local $e i32)
    (local.set $e (call $open_f_for_changes))
    (if (local.get $e) (then (return (local.get $e))))
    (call $fd_datasync (call $opened)))
)"#;

/// A host directory holding `f.txt` ("hello"), an empty directory `sub`
/// and a symbolic link `sym` to `f.txt`; removed when dropped.
struct Sandbox(PathBuf);

impl Sandbox {
    fn new(test: &str, access: DirAccess) -> Sandbox {
        let path = std::env::temp_dir().join(format!(
            "lucet-wasi-read-only-{}-{test}-{access:?}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("sub")).unwrap();
        std::fs::write(path.join("f.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("f.txt", path.join("sym")).unwrap();
        Sandbox(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn contents(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn mtime(&self, name: &str) -> SystemTime {
        std::fs::symlink_metadata(self.path(name))
            .unwrap()
            .modified()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a directory tree holds: each path, with its contents (or link
/// target, or nothing for a directory), size and modification time.
type Snapshot = BTreeMap<PathBuf, (Option<Vec<u8>>, u64, SystemTime)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    add_to_snapshot(root, Path::new("."), &mut out);
    out
}

fn add_to_snapshot(root: &Path, rel: &Path, out: &mut Snapshot) {
    let path = root.join(rel);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    let contents = if meta.is_symlink() {
        Some(
            std::fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_vec(),
        )
    } else if meta.is_file() {
        Some(std::fs::read(&path).unwrap())
    } else {
        None
    };
    out.insert(
        rel.to_path_buf(),
        (contents, meta.len(), meta.modified().unwrap()),
    );
    if meta.is_dir() {
        for entry in std::fs::read_dir(&path).unwrap() {
            add_to_snapshot(root, &rel.join(entry.unwrap().file_name()), out);
        }
    }
}

fn compiled_guest() -> &'static [u8] {
    static ELF: OnceLock<Vec<u8>> = OnceLock::new();
    ELF.get_or_init(|| {
        lucet_compiler::Compiler::new(Default::default())
            .unwrap()
            .compile(GUEST.as_bytes())
            .unwrap()
            .to_elf()
            .unwrap()
    })
}

/// The guest with `sandbox` preopened as `/ro` (fd 3) with `access`.
fn instance(sandbox: &Sandbox, access: DirAccess) -> InstanceHandle {
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let module = lucet_runtime::Module::from_bytes(compiled_guest(), "read_only", &linker).unwrap();
    let dir = cap_std::fs::Dir::open_ambient_dir(&sandbox.0, cap_std::ambient_authority()).unwrap();
    let ctx = WasiCtxBuilder::new()
        .stdout(lucet_wasi::Stream::Null)
        .preopened(dir, "/ro", access)
        .build();
    let region = MmapRegion::create(1, &Limits::default()).unwrap();
    region
        .new_instance_builder(module)
        .with_embed_ctx(ctx)
        .build()
        .unwrap()
}

fn call(inst: &mut InstanceHandle, export: &str) -> i32 {
    match inst.run(export, &[]).unwrap().returned().unwrap()[..] {
        [Val::I32(r)] => r,
        ref other => panic!("{export}: {other:?}"),
    }
}

/// Runs `export` in a fresh directory preopened read-only: it must fail
/// with `ENOTCAPABLE` and leave the directory exactly as it was.
fn refused_read_only(export: &str) {
    let sandbox = Sandbox::new(export, DirAccess::ReadOnly);
    let before = snapshot(&sandbox.0);
    let mut inst = instance(&sandbox, DirAccess::ReadOnly);
    assert_eq!(call(&mut inst, export), ENOTCAPABLE, "{export} (read-only)");
    assert_eq!(
        snapshot(&sandbox.0),
        before,
        "{export} changed the directory"
    );
}

/// Runs `export` in a fresh directory preopened read-write: it must
/// succeed. The directory is returned for the caller to check.
fn allowed_read_write(export: &str) -> Sandbox {
    let sandbox = Sandbox::new(export, DirAccess::ReadWrite);
    let mut inst = instance(&sandbox, DirAccess::ReadWrite);
    assert_eq!(call(&mut inst, export), 0, "{export} (read-write)");
    sandbox
}

#[test]
fn a_read_only_directory_is_read_but_files_in_it_are_not_opened_for_writing() {
    let sandbox = Sandbox::new("read", DirAccess::ReadOnly);
    let before = snapshot(&sandbox.0);
    let mut inst = instance(&sandbox, DirAccess::ReadOnly);
    assert_eq!(call(&mut inst, "read_f"), 0);
    assert_eq!(call(&mut inst, "nread"), 5);
    assert_eq!(&inst.heap()[2048..2053], b"hello");
    for export in ["stat_f", "readlink_sym", "list"] {
        assert_eq!(call(&mut inst, export), 0, "{export}");
    }
    assert_eq!(call(&mut inst, "open_f_with_fd_write"), ENOTCAPABLE);
    assert_eq!(snapshot(&sandbox.0), before);

    assert_eq!(
        allowed_read_write("open_f_with_fd_write").contents("f.txt"),
        "hello"
    );
    assert_eq!(allowed_read_write("write_f").contents("f.txt"), "HELLO");
}

#[test]
fn o_trunc_is_refused_in_a_read_only_directory() {
    refused_read_only("truncate_f");
    assert_eq!(allowed_read_write("truncate_f").contents("f.txt"), "");
}

#[test]
fn fopen_for_writing_is_refused_in_a_read_only_directory() {
    refused_read_only("fopen_w_f");
    assert_eq!(allowed_read_write("fopen_w_f").contents("f.txt"), "");
}

#[test]
fn o_creat_is_refused_in_a_read_only_directory() {
    refused_read_only("create_new");
    assert_eq!(allowed_read_write("create_new").contents("new.txt"), "");
}

#[test]
fn appending_is_refused_in_a_read_only_directory() {
    refused_read_only("open_f_for_appending");
    assert_eq!(
        allowed_read_write("open_f_for_appending").contents("f.txt"),
        "hello"
    );
    assert_eq!(
        allowed_read_write("append_f").contents("f.txt"),
        "helloHELLO"
    );
}

#[test]
fn path_create_directory_is_refused_in_a_read_only_directory() {
    refused_read_only("mkdir");
    assert!(allowed_read_write("mkdir").path("newdir").is_dir());
}

#[test]
fn path_unlink_file_is_refused_in_a_read_only_directory() {
    refused_read_only("unlink_f");
    assert!(!allowed_read_write("unlink_f").path("f.txt").exists());
}

#[test]
fn path_rename_is_refused_in_a_read_only_directory() {
    refused_read_only("rename_f");
    let sandbox = allowed_read_write("rename_f");
    assert!(!sandbox.path("f.txt").exists());
    assert_eq!(sandbox.contents("moved.txt"), "hello");
}

#[test]
fn path_symlink_is_refused_in_a_read_only_directory() {
    refused_read_only("symlink");
    let sandbox = allowed_read_write("symlink");
    let target = std::fs::read_link(sandbox.path("link")).unwrap();
    assert_eq!(target, Path::new("f.txt"));
}

#[test]
fn path_link_is_refused_in_a_read_only_directory() {
    refused_read_only("hard_link");
    assert_eq!(allowed_read_write("hard_link").contents("hard"), "hello");
}

#[test]
fn path_remove_directory_is_refused_in_a_read_only_directory() {
    refused_read_only("rmdir");
    assert!(!allowed_read_write("rmdir").path("sub").exists());
}

#[test]
fn times_are_not_set_in_a_read_only_directory() {
    for (export, name) in [("set_times_f", "f.txt"), ("set_times_dir", ".")] {
        refused_read_only(export);
        let mtime = allowed_read_write(export).mtime(name);
        assert_eq!(mtime, SystemTime::UNIX_EPOCH, "{export}");
    }
}

#[test]
fn files_opened_in_a_read_only_directory_are_not_changed_through_their_descriptors() {
    for export in [
        "fd_set_size_f",
        "fd_allocate_f",
        "fd_set_times_f",
        "fd_datasync_f",
    ] {
        refused_read_only(export);
    }
    assert_eq!(allowed_read_write("fd_set_size_f").contents("f.txt"), "");
    let sandbox = allowed_read_write("fd_allocate_f");
    assert_eq!(std::fs::metadata(sandbox.path("f.txt")).unwrap().len(), 100);
    let mtime = allowed_read_write("fd_set_times_f").mtime("f.txt");
    assert_eq!(mtime, SystemTime::UNIX_EPOCH);
    allowed_read_write("fd_datasync_f");
}
