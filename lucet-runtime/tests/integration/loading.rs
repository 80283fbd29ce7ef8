use lucet_runtime::{Error, Linker, Module};

use crate::common::*;

#[test]
fn loads_from_a_file() {
    let dir = std::env::temp_dir().join(format!("lucet-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("memory.lucet");
    std::fs::write(&path, compile("memory")).unwrap();
    let module = Module::load(&path, &Linker::new()).unwrap();
    assert!(module.name().ends_with("memory.lucet"));
    let mut inst = region().new_instance(module).unwrap();
    assert_eq!(i32(&mut inst, "size", &[]), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_for_another_architecture_is_refused_naming_both() {
    use lucet_compiler::{Arch, CompileOptions, Compiler};
    let host = Arch::host().unwrap();
    let other = Arch::ALL.into_iter().find(|a| *a != host).unwrap();
    let elf = Compiler::new(CompileOptions {
        target: other,
        ..CompileOptions::default()
    })
    .unwrap()
    .compile(std::fs::read(wat_path("memory")).unwrap().as_slice())
    .unwrap()
    .to_elf()
    .unwrap();
    let file = lucet_module::ModuleFile::parse(&elf).unwrap();
    assert_eq!(file.data.arch, other);
    let err = Module::from_bytes(&elf, "other.lucet", &Linker::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid module file: compiled for {other}, but this machine is {host}: recompile it with lucetc --target {}",
            host.triple()
        )
    );
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = Module::load("/nonexistent/x.lucet", &Linker::new()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn every_truncation_is_refused() {
    let elf = compile("tables");
    for cut in 0..elf.len() {
        assert!(
            Module::from_bytes(&elf[..cut], "cut", &Linker::new()).is_err(),
            "cut at {cut}"
        );
    }
    let err = Module::from_bytes(b"not an elf file at all", "junk", &Linker::new()).unwrap_err();
    assert_eq!(err.to_string(), "invalid module file: not an ELF file");
}

#[test]
fn every_changed_byte_is_refused_before_any_code_runs() {
    let elf = compile("memory");
    assert!(Module::from_bytes(&elf, "intact", &Linker::new()).is_ok());
    let mut hash_mismatches = 0;
    for i in 0..elf.len() {
        for flip in [0xff, 0x01] {
            let mut bad = elf.clone();
            bad[i] ^= flip;
            match Module::from_bytes(&bad, "flipped", &Linker::new()) {
                Ok(_) => panic!("byte {i} ^ {flip:#x} of {} was accepted", elf.len()),
                Err(e) => {
                    if e.to_string() == "module file is damaged: hash mismatch" {
                        hash_mismatches += 1;
                    }
                }
            }
        }
    }
    // Most bytes are contents (caught by the hash); the ELF headers fail
    // earlier, on what they point at.
    assert!(hash_mismatches > elf.len(), "{hash_mismatches}");
}

#[test]
fn zeroed_runs_are_refused() {
    let elf = compile("memory");
    for start in (0..elf.len()).step_by(61) {
        let mut bad = elf.clone();
        let end = (start + 64).min(bad.len());
        if bad[start..end].iter().all(|&b| b == 0) {
            continue;
        }
        bad[start..end].fill(0);
        assert!(
            Module::from_bytes(&bad, "zeroed", &Linker::new()).is_err(),
            "zeroed {start}..{end}"
        );
    }
}

#[test]
fn the_content_hash_is_reported_and_stable() {
    let a = compile("memory");
    let m = Module::from_bytes(&a, "a", &Linker::new()).unwrap();
    let seal = lucet_module::find_seal(&a).unwrap();
    let recorded = lucet_module::read_seal(&a[seal.clone()]).unwrap().hash;
    assert_eq!(m.content_hash(), recorded);
    assert_eq!(lucet_module::content_hash(&a, seal), recorded);
    assert!(m.content_hash().to_string().starts_with("blake3:"));
    assert_eq!(compile("memory"), a, "compilation is deterministic");
}

#[test]
fn another_format_version_is_a_clear_error() {
    let mut elf = compile("memory");
    let magic = lucet_module::METADATA_MAGIC;
    let at = elf
        .windows(magic.len())
        .position(|w| w == magic)
        .expect("metadata magic");
    let version = at + magic.len();
    elf[version] = elf[version].wrapping_add(1);
    reseal(&mut elf);
    let err = Module::from_bytes(&elf, "old", &Linker::new()).unwrap_err();
    assert!(
        err.to_string().starts_with("module format version"),
        "{err}"
    );
}

/// `elf` with its metadata changed by `edit`, if the re-encoded metadata
/// has the same length (so that it fits where the old one was).
fn with_metadata(elf: &[u8], edit: impl FnOnce(&mut lucet_module::ModuleData)) -> Vec<u8> {
    let magic = lucet_module::METADATA_MAGIC;
    let at = elf
        .windows(magic.len())
        .position(|w| w == magic)
        .expect("metadata magic");
    let body = u64::from_le_bytes(elf[at + 12..at + 20].try_into().unwrap()) as usize;
    let mut data = lucet_module::decode_metadata(&elf[at..at + 20 + body]).unwrap();
    let old = lucet_module::encode_metadata(&data).unwrap();
    edit(&mut data);
    let new = lucet_module::encode_metadata(&data).unwrap();
    assert_eq!(new.len(), old.len(), "the edit must keep the length");
    let mut out = elf.to_vec();
    out[at..at + new.len()].copy_from_slice(&new);
    reseal(&mut out);
    out
}

/// Seals `elf` again after an edit (as a compiler would have).
fn reseal(elf: &mut [u8]) {
    let at = lucet_module::find_seal(elf).unwrap();
    elf[at.clone()].copy_from_slice(&lucet_module::blank_seal());
    lucet_module::write_seal(elf, at, None).unwrap();
}

#[test]
fn an_edited_file_is_refused_unless_resealed() {
    let elf = compile_bytes(b"(module (memory 1 2))");
    let magic = lucet_module::METADATA_MAGIC;
    let at = elf.windows(8).position(|w| w == magic).unwrap();
    let mut edited = elf.clone();
    edited[at + 8] = edited[at + 8].wrapping_add(1);
    let err = Module::from_bytes(&edited, "edited", &Linker::new()).unwrap_err();
    assert_eq!(err.to_string(), "module file is damaged: hash mismatch");
    reseal(&mut edited);
    let err = Module::from_bytes(&edited, "edited", &Linker::new()).unwrap_err();
    assert!(
        err.to_string().starts_with("module format version"),
        "{err}"
    );
}

#[test]
fn sizes_in_the_metadata_are_checked_when_loading() {
    let elf = compile_bytes(b"(module (table 1 2 funcref) (memory 1 2))");
    let load = |elf: &[u8]| {
        Module::from_bytes(elf, "edited", &Linker::new())
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(load(&elf), None);
    let swapped = with_metadata(&elf, |d| {
        d.tables[0].min = 2;
        d.tables[0].max = Some(1);
    });
    assert!(load(&swapped)
        .unwrap()
        .contains("minimum exceeds its maximum"));
    let swapped = with_metadata(&elf, |d| {
        d.memories[0].heap.initial_pages = 2;
        d.memories[0].heap.max_pages = Some(1);
    });
    assert!(load(&swapped)
        .unwrap()
        .contains("minimum exceeds its maximum"));
    // A 32-bit memory of more than 2^16 pages (3-byte varints both).
    let elf = compile_bytes(b"(module (memory 65535 65536))");
    let huge = with_metadata(&elf, |d| d.memories[0].heap.max_pages = Some(65537));
    assert!(load(&huge).unwrap().contains("beyond what its index type"));
}

#[test]
fn a_table_of_4_billion_elements_is_refused_not_allocated() {
    let elf = compile_bytes(b"(module (table 0xFFFFFFFF funcref))");
    let module = Module::from_bytes(&elf, "huge", &Linker::new()).unwrap();
    let err = region().new_instance(module).unwrap_err();
    assert!(matches!(err, Error::LimitsExceeded(_)), "{err}");
}

/// A scratch directory for module files, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("lucet-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ANSWER: &str = r#"(module
  (memory 1)
  (data (i32.const 0) "image:AAAA")
  (func (export "answer") (result i32) i32.const 1111)
  (func (export "byte") (result i32) i32.const 6 i32.load8_u)
  (func (export "trap") unreachable))"#;

#[test]
fn a_file_rewritten_in_place_after_loading_runs_what_was_loaded() {
    use std::io::{Seek, Write};
    let dir = ScratchDir::new("rewritten");
    let path = dir.0.join("answer.lucet");
    let original = compile_bytes(ANSWER.as_bytes());
    let changed = compile_bytes(
        ANSWER
            .replace("1111", "2222")
            .replace("image:AAAA", "image:BBBB")
            .as_bytes(),
    );
    assert_eq!(original.len(), changed.len(), "same layout, other bytes");
    std::fs::write(&path, &original).unwrap();
    let module = Module::load(&path, &Linker::new()).unwrap();
    // Overwrite the same inode in place, as a careless deploy does.
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.rewind().unwrap();
    f.write_all(&changed).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let mut inst = region().new_instance(module).unwrap();
    assert_eq!(
        i32(&mut inst, "answer", &[]),
        1111,
        "the code that was loaded"
    );
    assert_eq!(
        i32(&mut inst, "byte", &[]),
        i32::from(b'A'),
        "the image that was loaded"
    );
}

#[test]
fn a_file_truncated_after_loading_still_traps_cleanly() {
    let dir = ScratchDir::new("truncated");
    let path = dir.0.join("answer.lucet");
    std::fs::write(&path, compile_bytes(ANSWER.as_bytes())).unwrap();
    let module = Module::load(&path, &Linker::new()).unwrap();
    // As `cp smaller.lucet served.lucet` does: the same inode, shorter.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut inst = region().new_instance(module).unwrap();
    let err = inst.run("trap", &[]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(lucet_runtime::TrapCode::Unreachable),
        "{err}"
    );
    assert_eq!(i32(&mut inst, "answer", &[]), 1111);
}
