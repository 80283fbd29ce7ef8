//! Every WASI call with arbitrary arguments, against a small memory filled
//! with arbitrary bytes and a preopened scratch directory.
//!
//! One driver module (compiled once per process) imports every function of
//! `wasi_snapshot_preview1` and exports a wrapper of each; an input is a
//! memory image and a sequence of calls with arguments biased towards what
//! finds bugs (small numbers that are descriptors and lengths, addresses in
//! and just past memory, the ends of the integer ranges). The host must
//! answer every call with an errno or a result, never a panic; no call may
//! make the host allocate more than [`MAX_HOST_BYTES`] (when the process
//! counts allocations through [`CountingAllocator`]); and nothing outside
//! the scratch directory may change: its sibling holds a file and a
//! directory the sandbox links to, which are compared before and after.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{
    Error as RuntimeError, FuncType, KillSwitch, Limits, Linker, MmapRegion, Module,
    TerminationDetails, Val, ValType,
};
use lucet_wasi::{Stream, WasiCtxBuilder};

/// The driver's memory: two pages, so that arbitrary addresses often land
/// inside it and often just past it.
const MEMORY_PAGES: u32 = 2;
const MEMORY_BYTES: u32 = MEMORY_PAGES * 65536;
/// Calls per input, at most.
const MAX_CALLS: usize = 24;
/// How long one input's calls may take together (a `poll_oneoff` may ask
/// to sleep for centuries; the kill switch wakes it).
const INPUT_DEADLINE: Duration = Duration::from_millis(200);
/// What the host may allocate for one call, over what it held before.
pub const MAX_HOST_BYTES: usize = 32 << 20;

/// The host broke its contract.
#[derive(Debug, thiserror::Error)]
pub enum Finding {
    /// A WASI function panicked (the runtime caught it and ended the run).
    #[error("{call}: the host panicked: {message}")]
    HostPanic { call: String, message: String },
    /// A call ended in a way no WASI call may (a trap, another error).
    #[error("{call}: {error}")]
    Unexpected { call: String, error: String },
    /// A call made the host allocate too much.
    #[error("{call}: the host allocated {bytes} bytes (more than {MAX_HOST_BYTES})")]
    Allocation { call: String, bytes: usize },
    /// Something outside the scratch directory changed.
    #[error("after {calls}: outside the sandbox, {what}")]
    Escape { calls: String, what: String },
    /// The fixture could not be set up (not the host's fault, but the run
    /// cannot go on).
    #[error("fixture: {0}")]
    Fixture(String),
}

/// How an input went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Calls made.
    pub calls: usize,
    /// Calls that returned an errno or success (the rest ended the run:
    /// `proc_exit`, `proc_raise`, the deadline).
    pub returned: usize,
}

/// A global allocator that counts live bytes and their peak, so that the
/// oracle can bound what one call makes the host allocate. A fuzz target
/// installs it with `#[global_allocator]`; without it, allocation is not
/// checked.
pub struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: every method forwards to the system allocator with the same
// layout; the counters do not affect what is returned.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNTING.store(true, Ordering::Relaxed);
        // SAFETY: forwarded as the caller passed it.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees for `ptr`, `layout`, `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Starts measuring a peak: returns the bytes live now.
fn peak_reset() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The driver module, its exports, and the scratch directories.
struct Fixture {
    module: Arc<Module>,
    region: Arc<MmapRegion>,
    /// `call_N` and its type, for every WASI function.
    calls: Vec<(String, String, FuncType)>,
    /// Preopened for the guest as `/sandbox`; emptied before every input.
    sandbox: PathBuf,
    /// Beside the sandbox; links inside the sandbox point here.
    outside: PathBuf,
    /// What `outside` (and the directory holding both) looked like.
    snapshot: Vec<String>,
    /// The contents of the file outside: made up per process, so that no
    /// input can hold it; if it shows up in guest memory, the guest read it.
    secret: Vec<u8>,
    watchdog: Arc<Watchdog>,
}

fn fixture() -> Result<&'static Fixture, Finding> {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            Fixture::new().map_err(|e| match e {
                Finding::Fixture(m) => m,
                e => e.to_string(),
            })
        })
        .as_ref()
        .map_err(|e| Finding::Fixture(e.clone()))
}

impl Fixture {
    fn new() -> Result<Fixture, Finding> {
        let fixture = |e: &dyn std::fmt::Display| Finding::Fixture(e.to_string());
        let mut linker = Linker::new();
        lucet_wasi::add_to_linker(&mut linker);
        let mut imports = String::new();
        let mut wrappers = String::new();
        let mut calls = Vec::new();
        for (i, name) in lucet_wasi::FUNCTIONS.iter().enumerate() {
            let ty = linker
                .get_func(lucet_wasi::MODULE, name)
                .ok_or_else(|| Finding::Fixture(format!("{name} is not in the linker")))?
                .ty()
                .clone();
            let params: Vec<&str> = ty.params.iter().map(|t| wat_type(*t)).collect();
            let results: Vec<&str> = ty.results.iter().map(|t| wat_type(*t)).collect();
            let sig = format!(
                "(param {}) (result {})",
                params.join(" "),
                results.join(" ")
            );
            imports.push_str(&format!(
                "  (import \"{}\" \"{name}\" (func $f{i} {sig}))\n",
                lucet_wasi::MODULE
            ));
            let gets: String = (0..params.len())
                .map(|p| format!("(local.get {p})"))
                .collect();
            wrappers.push_str(&format!(
                "  (func (export \"call_{i}\") {sig} (call $f{i} {gets}))\n"
            ));
            calls.push((format!("call_{i}"), name.to_string(), ty));
        }
        let wat = format!(
            "(module\n{imports}{wrappers}  (memory (export \"memory\") {MEMORY_PAGES} {MEMORY_PAGES}))\n"
        );
        let compiler = Compiler::new(CompileOptions::default()).map_err(|e| fixture(&e))?;
        let elf = compiler
            .compile(wat.as_bytes())
            .and_then(|c| c.to_elf())
            .map_err(|e| fixture(&e))?;
        let module = Module::from_bytes(&elf, "wasi-driver", &linker).map_err(|e| fixture(&e))?;
        let region = MmapRegion::create(
            1,
            &Limits {
                heap_memory_size: u64::from(MEMORY_BYTES),
                ..Limits::default()
            },
        )
        .map_err(|e| fixture(&e))?;

        let base = std::env::temp_dir().join(format!("lucet-fuzz-wasi-{}", std::process::id()));
        let sandbox = base.join("sandbox");
        let outside = base.join("outside");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(outside.join("dir")).map_err(|e| fixture(&e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let secret = format!("secret-{nanos:x}-{}", std::process::id()).into_bytes();
        std::fs::write(outside.join("canary.txt"), &secret).map_err(|e| fixture(&e))?;
        std::fs::write(outside.join("dir/inner.txt"), b"inner\n").map_err(|e| fixture(&e))?;
        let snapshot = snapshot(&base, &sandbox);
        let f = Fixture {
            module,
            region,
            calls,
            sandbox,
            outside,
            snapshot,
            secret,
            watchdog: Watchdog::start(),
        };
        f.reset_sandbox()?;
        Ok(f)
    }

    /// Empties the sandbox and fills it with a file, a directory, and links
    /// that lead out of it (which the guest must not be able to follow).
    fn reset_sandbox(&self) -> Result<(), Finding> {
        let fixture = |e: std::io::Error| Finding::Fixture(format!("sandbox: {e}"));
        // `remove_dir_all` removes links, never what they point at.
        if self.sandbox.exists() {
            std::fs::remove_dir_all(&self.sandbox).map_err(fixture)?;
        }
        std::fs::create_dir_all(self.sandbox.join("d")).map_err(fixture)?;
        std::fs::write(self.sandbox.join("a.txt"), b"hello sandbox\n").map_err(fixture)?;
        std::fs::write(self.sandbox.join("d/b.txt"), b"b\n").map_err(fixture)?;
        std::os::unix::fs::symlink("../outside", self.sandbox.join("up")).map_err(fixture)?;
        std::os::unix::fs::symlink(self.outside.join("canary.txt"), self.sandbox.join("abs"))
            .map_err(fixture)?;
        Ok(())
    }
}

fn wat_type(t: ValType) -> &'static str {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        _ => "i64",
    }
}

/// Every entry under `base` except inside `sandbox`: path, type, size,
/// mode, modification time.
fn snapshot(base: &Path, sandbox: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![base.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            out.push(format!("{}: unreadable", dir.display()));
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path == sandbox {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                out.push(format!("{}: gone while listing", path.display()));
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            out.push(format!(
                "{} {:?} {} {:o} {}.{}",
                path.display(),
                meta.file_type(),
                meta.len(),
                meta.mode(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Stops the run in progress once its deadline passes.
struct Watchdog {
    armed: Mutex<Option<(KillSwitch, Instant)>>,
    changed: Condvar,
}

impl Watchdog {
    fn start() -> Arc<Watchdog> {
        let w = Arc::new(Watchdog {
            armed: Mutex::new(None),
            changed: Condvar::new(),
        });
        let watcher = w.clone();
        std::thread::spawn(move || {
            let mut armed = watcher.armed.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match armed.as_ref() {
                    None => {
                        armed = watcher
                            .changed
                            .wait(armed)
                            .unwrap_or_else(|p| p.into_inner())
                    }
                    Some((switch, deadline)) => {
                        let now = Instant::now();
                        if now >= *deadline {
                            let _ = switch.terminate();
                            *armed = None;
                        } else {
                            let wait = *deadline - now;
                            armed = watcher
                                .changed
                                .wait_timeout(armed, wait)
                                .unwrap_or_else(|p| p.into_inner())
                                .0;
                        }
                    }
                }
            }
        });
        w
    }

    fn arm(&self, switch: KillSwitch, deadline: Instant) {
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some((switch, deadline));
        self.changed.notify_all();
    }

    fn disarm(&self) {
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.changed.notify_all();
    }
}

/// An argument of type `t`, biased towards what finds bugs.
fn argument(u: &mut Unstructured, t: ValType) -> arbitrary::Result<Val> {
    let x: u64 = match u.int_in_range(0..=9)? {
        // Descriptors, flags, small lengths, counts.
        0..=3 => u.int_in_range(0..=8)?,
        // An address in memory.
        4 | 5 => u.int_in_range(0..=u64::from(MEMORY_BYTES) - 1)?,
        // Near the end of memory, either side.
        6 => u64::from(MEMORY_BYTES) - 16 + u.int_in_range(0..=32)?,
        // The ends of the ranges.
        7 => *u.choose(&[
            0,
            u64::from(u32::MAX),
            u64::from(u32::MAX) - 3,
            1 << 31,
            u64::MAX,
            i64::MAX as u64,
        ])?,
        _ => u.arbitrary()?,
    };
    Ok(match t {
        ValType::I64 => Val::I64(x as i64),
        _ => Val::I32(x as i32),
    })
}

fn describe(name: &str, args: &[Val]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    format!("{name}({})", args.join(", "))
}

/// Runs the calls `data` describes.
pub fn check(data: &[u8]) -> Result<Verdict, Finding> {
    // One scratch directory per process: inputs take turns.
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let f = fixture()?;
    f.reset_sandbox()?;
    let mut u = Unstructured::new(data);
    let ctx = WasiCtxBuilder::new()
        .arg("driver")
        .arg("--flag")
        .env("KEY", "value")
        .stdin(Stream::Null)
        .stdout(Stream::Null)
        .stderr(Stream::Null)
        .max_open_files(64)
        .preopened_dir(&f.sandbox, "/sandbox")
        .map_err(|e| Finding::Fixture(e.to_string()))?
        .build();
    let mut inst = f
        .region
        .new_instance_builder(f.module.clone())
        .with_embed_ctx(ctx)
        .build()
        .map_err(|e| Finding::Fixture(format!("instantiate: {e}")))?;
    // Memory: arbitrary bytes, so that pointers lead to arbitrary iovecs,
    // paths and subscriptions.
    let image_len = u.int_in_range(0..=4096usize).unwrap_or(0);
    let image = u.bytes(image_len.min(u.len())).unwrap_or(&[]).to_vec();
    let at = u
        .int_in_range(0..=MEMORY_BYTES as usize - image.len())
        .unwrap_or(0);
    inst.heap_mut()[at..at + image.len()].copy_from_slice(&image);
    // Paths the guest may use: NUL-free names at fixed places.
    for (offset, path) in [
        (0usize, &b"a.txt"[..]),
        (16, b"d/b.txt"),
        (32, b"up/canary.txt"),
        (64, b"abs"),
        (80, b"../outside/canary.txt"),
        (112, b"/etc/passwd"),
        (128, b"new"),
        (144, b"d"),
        (160, b"up"),
    ] {
        if u.ratio(3, 4).unwrap_or(true) {
            inst.heap_mut()[offset..offset + path.len()].copy_from_slice(path);
        }
    }

    // The secret can only reach memory through a read outside the sandbox,
    // unless the input put it there (the fuzzer learns it from this
    // comparison).
    let contains_secret = |heap: &[u8]| {
        heap.windows(f.secret.len())
            .any(|w| w == f.secret.as_slice())
    };
    let secret_in_input = contains_secret(inst.heap());

    let deadline = Instant::now() + INPUT_DEADLINE;
    let mut done = Vec::new();
    let mut verdict = Verdict {
        calls: 0,
        returned: 0,
    };
    while verdict.calls < MAX_CALLS && !u.is_empty() && Instant::now() < deadline {
        let Ok((export, name, ty)) = u.choose(&f.calls) else {
            break;
        };
        let Ok(args) = ty
            .params
            .iter()
            .map(|t| argument(&mut u, *t))
            .collect::<arbitrary::Result<Vec<_>>>()
        else {
            break;
        };
        let call = describe(name, &args);
        verdict.calls += 1;
        f.watchdog.arm(inst.kill_switch(), deadline);
        let before = peak_reset();
        let result = inst.run(export, &args);
        f.watchdog.disarm();
        let peak = PEAK.load(Ordering::Relaxed);
        if COUNTING.load(Ordering::Relaxed) && peak.saturating_sub(before) > MAX_HOST_BYTES {
            return Err(Finding::Allocation {
                call,
                bytes: peak - before,
            });
        }
        match result {
            Ok(_) => verdict.returned += 1,
            // proc_exit, proc_raise: the instance is ready for more.
            Err(RuntimeError::Terminated(TerminationDetails::Provided(_))) => {}
            // The deadline passed.
            Err(RuntimeError::Terminated(TerminationDetails::Remote)) => break,
            Err(RuntimeError::Terminated(TerminationDetails::HostPanic(message))) => {
                return Err(Finding::HostPanic { call, message })
            }
            Err(e) => {
                return Err(Finding::Unexpected {
                    call,
                    error: e.to_string(),
                })
            }
        }
        done.push(call);
    }
    if !secret_in_input && contains_secret(inst.heap()) {
        return Err(Finding::Escape {
            calls: done.join("; "),
            what: "the guest read the file outside".into(),
        });
    }
    drop(inst);
    let base = f.sandbox.parent().unwrap_or(&f.sandbox);
    let now = snapshot(base, &f.sandbox);
    if now != f.snapshot {
        let changed: Vec<&String> = now
            .iter()
            .filter(|e| !f.snapshot.contains(e))
            .chain(f.snapshot.iter().filter(|e| !now.contains(e)))
            .collect();
        return Err(Finding::Escape {
            calls: done.join("; "),
            what: format!("{changed:?} changed"),
        });
    }
    Ok(verdict)
}
