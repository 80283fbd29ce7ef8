//! WASI preview1 (`wasi_snapshot_preview1`) for Lucet instances.
//!
//! [`add_to_linker`] defines every function of the snapshot in a
//! [`Linker`]; each instance that runs a WASI program carries its
//! [`WasiCtx`] in its embedder context (`InstanceBuilder::with_embed_ctx`).

pub(crate) mod calls;
mod ctx;
mod errno;
mod memory;
pub mod types;

use lucet_runtime::{ExitCode, Linker, Vmctx};

pub use calls::poll::MAX_SUBSCRIPTIONS;
pub use ctx::{
    Descriptor, DirAccess, Stream, WasiCtx, WasiCtxBuilder, WasiCtxError, DEFAULT_MAX_OPEN_FILES,
};
pub use memory::{GuestMemory, IOV_MAX, PATH_MAX};
use types::{Errno, WasiResult};

/// The import module name of WASI preview1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// Runs a WASI call against the caller's memory and context.
fn call(vmctx: &mut Vmctx, f: impl FnOnce(&mut WasiCtx, &mut GuestMemory) -> WasiResult) -> i32 {
    let (mem, ctx, interrupt) = vmctx.memory_embed_ctx_and_interrupt_mut::<WasiCtx>();
    match ctx {
        Some(ctx) => match f(ctx, &mut GuestMemory::with_interrupt(mem, interrupt)) {
            Ok(()) => Errno::Success as i32,
            Err(e) => e as i32,
        },
        None => vmctx.terminate(String::from(
            "the instance has no WasiCtx in its embedder context",
        )),
    }
}

fn proc_exit(vmctx: &mut Vmctx, code: u32) {
    vmctx.terminate(ExitCode(code))
}

/// `proc_raise`: ends the program as the signal's default action would, with
/// the exit status a shell reports for it (128 + signal).
fn proc_raise(vmctx: &mut Vmctx, sig: u32) -> i32 {
    match sig {
        0 => 0,
        1..=30 => vmctx.terminate(ExitCode(128 + sig)),
        _ => Errno::Inval as i32,
    }
}

/// Defines `define_calls(linker)`, registering each call, and
/// [`FUNCTIONS`], naming every function of the snapshot.
macro_rules! wasi_calls {
    ($($group:ident::$name:ident($($arg:ident: $t:ty),*);)*) => {
        fn define_calls(linker: &mut Linker) {
            $(
                linker.func(MODULE, stringify!($name), |vmctx: &mut Vmctx, $($arg: $t),*| -> i32 {
                    call(vmctx, |ctx, mem| calls::$group::$name(ctx, mem, $($arg),*))
                });
            )*
            linker.func(MODULE, "proc_exit", proc_exit);
            linker.func(MODULE, "proc_raise", proc_raise);
        }

        /// The name of every function of `wasi_snapshot_preview1` that
        /// [`add_to_linker`] defines (their types are in the linker).
        pub const FUNCTIONS: &[&str] = &[$(stringify!($name),)* "proc_exit", "proc_raise"];
    };
}

wasi_calls! {
    env::args_get(argv: u32, buf: u32);
    env::args_sizes_get(count: u32, size: u32);
    env::environ_get(environ: u32, buf: u32);
    env::environ_sizes_get(count: u32, size: u32);
    env::clock_res_get(id: u32, out: u32);
    env::clock_time_get(id: u32, precision: u64, out: u32);
    env::random_get(buf: u32, len: u32);
    env::sched_yield();
    fd::fd_advise(fd: u32, offset: u64, len: u64, advice: u32);
    fd::fd_allocate(fd: u32, offset: u64, len: u64);
    fd::fd_close(fd: u32);
    fd::fd_datasync(fd: u32);
    fd::fd_fdstat_get(fd: u32, out: u32);
    fd::fd_fdstat_set_flags(fd: u32, flags: u32);
    fd::fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64);
    fd::fd_filestat_get(fd: u32, out: u32);
    fd::fd_filestat_set_size(fd: u32, size: u64);
    fd::fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, fst: u32);
    fd::fd_pread(fd: u32, iovs: u32, n: u32, offset: u64, out: u32);
    fd::fd_prestat_get(fd: u32, out: u32);
    fd::fd_prestat_dir_name(fd: u32, path: u32, len: u32);
    fd::fd_pwrite(fd: u32, iovs: u32, n: u32, offset: u64, out: u32);
    fd::fd_read(fd: u32, iovs: u32, n: u32, out: u32);
    fd::fd_readdir(fd: u32, buf: u32, len: u32, cookie: u64, out: u32);
    fd::fd_renumber(from: u32, to: u32);
    fd::fd_seek(fd: u32, offset: i64, whence: u32, out: u32);
    fd::fd_sync(fd: u32);
    fd::fd_tell(fd: u32, out: u32);
    fd::fd_write(fd: u32, iovs: u32, n: u32, out: u32);
    path::path_create_directory(fd: u32, path: u32, len: u32);
    path::path_filestat_get(fd: u32, flags: u32, path: u32, len: u32, out: u32);
    path::path_filestat_set_times(fd: u32, flags: u32, path: u32, len: u32, atim: u64, mtim: u64, fst: u32);
    path::path_link(old_fd: u32, old_flags: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32);
    path::path_open(fd: u32, dirflags: u32, path: u32, len: u32, oflags: u32, base: u64, inheriting: u64, fdflags: u32, out: u32);
    path::path_readlink(fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, out: u32);
    path::path_remove_directory(fd: u32, path: u32, len: u32);
    path::path_rename(fd: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32);
    path::path_symlink(old_path: u32, old_len: u32, fd: u32, new_path: u32, new_len: u32);
    path::path_unlink_file(fd: u32, path: u32, len: u32);
    poll::poll_oneoff(subs: u32, events: u32, n: u32, out: u32);
    sock::sock_accept(fd: u32, flags: u32, out: u32);
    sock::sock_recv(fd: u32, iovs: u32, n: u32, flags: u32, out_len: u32, out_flags: u32);
    sock::sock_send(fd: u32, iovs: u32, n: u32, flags: u32, out: u32);
    sock::sock_shutdown(fd: u32, how: u32);
}

/// Defines every `wasi_snapshot_preview1` function in `linker`.
pub fn add_to_linker(linker: &mut Linker) -> &mut Linker {
    define_calls(linker);
    linker
}
