//! `lucet-bench load`: loading compiled module files, as a server loads
//! the modules it is given, against Wasmtime's `Module::deserialize_file`
//! of the same program precompiled by the same run.
//!
//! Each size is a generated program (`workloads::large_program`) written to
//! a temporary directory: a Lucet file (sealed, and a signed copy) and a
//! Wasmtime `.cwasm`. Rows: the time of one load (the file is in the page
//! cache, as it is for a server that loads a module it was just given), the
//! same with the signature verified, and the resident memory a loaded
//! module adds before it first runs (eight loads held, RSS delta / 8,
//! each measured in a fresh process).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lucet_runtime::{Linker, Module, PublicKey};

use crate::report::{Density, Row};
use crate::stats::interleaved;

/// A module size the rows measure.
struct Case {
    label: &'static str,
    functions: usize,
}

const CASES: [Case; 2] = [
    Case {
        label: "1 MiB",
        functions: 1_800,
    },
    Case {
        label: "24 MiB",
        functions: 44_000,
    },
];

/// Modules held to measure the memory a loaded module adds.
const HELD: usize = 8;

struct Files {
    lucet: PathBuf,
    signed: PathBuf,
    #[cfg_attr(not(feature = "peer-wasmtime"), allow(dead_code))]
    cwasm: PathBuf,
    lucet_bytes: u64,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn write_files(dir: &Path, case: &Case, key: &minisign::SecretKey) -> Result<Files> {
    let wat = crate::workloads::large_program(case.functions);
    let compiled = lucet_compiler::Compiler::new(Default::default())?.compile(wat.as_bytes())?;
    let lucet = dir.join(format!("{}.lucet", case.functions));
    let signed = dir.join(format!("{}.signed.lucet", case.functions));
    let cwasm = dir.join(format!("{}.cwasm", case.functions));
    let elf = compiled.to_elf()?;
    std::fs::write(&lucet, &elf)?;
    let signed_elf = compiled.to_signed_elf(&|hash| {
        minisign::sign(None, key, std::io::Cursor::new(hash.0), None, None)
            .map(|b| b.into_string())
            .map_err(|e| e.to_string())
    })?;
    std::fs::write(&signed, signed_elf)?;
    #[cfg(feature = "peer-wasmtime")]
    {
        let engine = crate::peer::engine(1);
        std::fs::write(&cwasm, crate::peer::precompile(&engine, wat.as_bytes()))?;
    }
    Ok(Files {
        lucet,
        signed,
        cwasm,
        lucet_bytes: elf.len() as u64,
    })
}

/// The resident memory `load` adds per module, `HELD` held at once.
fn rss_per_module<T>(mut load: impl FnMut() -> T) -> f64 {
    let before = crate::rss_bytes();
    let held: Vec<T> = (0..HELD).map(|_| load()).collect();
    let after = crate::rss_bytes();
    drop(held);
    after.saturating_sub(before) as f64 / HELD as f64
}

/// Runs `lucet-bench load-rss ENGINE PATH` (this program) and reads the
/// bytes per module it prints.
fn rss_in_child(engine: &str, path: &Path) -> Result<f64> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("load-rss")
        .arg(engine)
        .arg(path)
        .output()
        .context("cannot run lucet-bench load-rss")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "load-rss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.trim()
        .parse()
        .with_context(|| format!("load-rss printed {text:?}"))
}

/// `lucet-bench load-rss ENGINE PATH`: loads PATH `HELD` times with ENGINE
/// (`lucet` or `wasmtime`) in this fresh process and prints the resident
/// bytes each load added.
pub fn print_rss_of_loads(engine: &str, path: &Path) -> Result<()> {
    let per_module = match engine {
        "lucet" => {
            let linker = Linker::new();
            // Process-wide state (signal handlers, the signature table) is
            // made by the first load; measure the ones after it.
            let first = Module::load(path, &linker)?;
            let rss = rss_per_module(|| Module::load(path, &linker).expect("load"));
            drop(first);
            rss
        }
        #[cfg(feature = "peer-wasmtime")]
        "wasmtime" => {
            let engine = crate::peer::engine(1);
            // SAFETY: the file was written by `precompile_module` of an
            // engine with this configuration, by the parent process.
            let first = unsafe { wasmtime::Module::deserialize_file(&engine, path) }?;
            let rss = rss_per_module(|| {
                // SAFETY: as above.
                unsafe { wasmtime::Module::deserialize_file(&engine, path) }.expect("deserialize")
            });
            drop(first);
            rss
        }
        other => anyhow::bail!("load-rss: unknown engine {other}"),
    };
    println!("{per_module}");
    Ok(())
}

/// The load rows, for every size.
pub fn load_rows(samples: usize) -> Result<Vec<Row>> {
    let dir = std::env::temp_dir().join(format!("lucet-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| anyhow::anyhow!("key pair: {e}"))?;
    let public = PublicKey::decode(&pk.to_box().map_err(|e| anyhow::anyhow!("{e}"))?.to_string())?;
    let linker = Linker::new();
    #[cfg(feature = "peer-wasmtime")]
    let engine = crate::peer::engine(1);

    let mut rows = Vec::new();
    for case in &CASES {
        let files = write_files(&dir, case, &sk)?;
        let what = format!(
            "load/{} program ({} functions, {} Lucet file)",
            case.label,
            case.functions,
            mib(files.lucet_bytes)
        );
        // Memory in a fresh process each: in this one, memory freed by the
        // compiler would be handed back to the loads and hide them.
        let lucet_rss = rss_in_child("lucet", &files.lucet)?;
        #[cfg(feature = "peer-wasmtime")]
        let peer_rss = Some(rss_in_child("wasmtime", &files.cwasm)?);
        #[cfg(not(feature = "peer-wasmtime"))]
        let peer_rss = None;
        let iters = if files.lucet_bytes > 8 << 20 { 1 } else { 10 };
        let mut lucet_load = || {
            Module::load(&files.lucet, &linker).expect("load");
        };
        let mut lucet_verified = || {
            Module::load_verified(&files.signed, &public, &linker).expect("load verified");
        };
        #[cfg(feature = "peer-wasmtime")]
        let mut peer_load = || {
            // SAFETY: the file was written by `precompile_module` of an
            // engine with this configuration, in this run.
            unsafe { wasmtime::Module::deserialize_file(&engine, &files.cwasm) }
                .expect("deserialize");
        };
        #[cfg(feature = "peer-wasmtime")]
        let peer: Option<&mut dyn FnMut()> = Some(&mut peer_load);
        #[cfg(not(feature = "peer-wasmtime"))]
        let peer: Option<&mut dyn FnMut()> = None;
        let (lucet, peer_stats) = interleaved(samples, iters, &mut lucet_load, peer);
        let peer_again = peer_stats.clone();
        rows.push(Row {
            name: format!("{what}: load, hash checked"),
            lucet,
            peer: peer_stats,
            density: None,
        });
        let (verified, _) = interleaved(samples, iters, &mut lucet_verified, None);
        rows.push(Row {
            name: format!("{what}: load, hash and signature checked"),
            lucet: verified,
            peer: peer_again,
            density: None,
        });

        // What the hash alone costs (part of every load above).
        let bytes = std::fs::read(&files.lucet)?;
        let seal = lucet_module::find_seal(&bytes)?;
        let (hash, _) = interleaved(
            samples,
            iters,
            &mut || {
                std::hint::black_box(lucet_module::content_hash(&bytes, seal.clone()));
            },
            None,
        );
        rows.push(Row {
            name: format!("{what}: the content hash alone (BLAKE3, in memory)"),
            lucet: hash,
            peer: None,
            density: None,
        });

        rows.push(Row {
            name: format!(
                "{what}: memory resident after loading, before the first run ({:.1}% of the file)",
                100.0 * lucet_rss / files.lucet_bytes as f64
            ),
            lucet: crate::stats::Stats::of(vec![0.0]),
            peer: None,
            density: Some(Density {
                per: "module",
                instances: HELD,
                lucet_rss_per_instance: lucet_rss,
                peer_rss_per_instance: peer_rss,
            }),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
