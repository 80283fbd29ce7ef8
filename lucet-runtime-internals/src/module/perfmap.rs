//! Symbols for `perf`: with `LUCET_PERFMAP=1` in the environment, every
//! loaded module's functions and trampolines are appended to
//! `/tmp/perf-PID.map`, the file `perf report` reads to name code that no
//! ELF file on disk describes. Names a guest chose are escaped.

use std::io::Write;
use std::sync::Mutex;

use lucet_module::{ModuleData, NameTable};

static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Whether the environment asks for a perf map (read once).
fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("LUCET_PERFMAP").is_some_and(|v| v == "1"))
}

/// Printable ASCII stays; everything else becomes `\xNN`.
fn escaped(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_graphic() && b != b'\\' {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Records the code of a module loaded at `base`, named `module`.
pub(crate) fn record(module: &str, data: &ModuleData, names: &NameTable<'_>, base: usize) {
    if !enabled() {
        return;
    }
    let mut lines = String::new();
    for (i, f) in data.functions.iter().enumerate() {
        let name = data.display_name(i as u32, names);
        lines.push_str(&format!(
            "{:x} {:x} wasm[{}]::{}\n",
            base + f.code.offset as usize,
            f.code.len,
            escaped(module),
            escaped(&name)
        ));
    }
    for t in &data.trampolines {
        lines.push_str(&format!(
            "{:x} {:x} wasm[{}]::trampoline[{}]\n",
            base + t.code.offset as usize,
            t.code.len,
            escaped(module),
            t.func_index
        ));
    }
    let mut file = FILE.lock().unwrap_or_else(|p| p.into_inner());
    if file.is_none() {
        let path = format!("/tmp/perf-{}.map", std::process::id());
        *file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
    }
    if let Some(f) = file.as_mut() {
        // A profiling aid: a failed write only loses symbols.
        let _ = f.write_all(lines.as_bytes());
    }
}
