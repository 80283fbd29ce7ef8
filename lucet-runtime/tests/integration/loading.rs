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
fn a_missing_file_is_an_io_error() {
    let err = Module::load("/nonexistent/x.lucet", &Linker::new()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn truncated_and_corrupted_files_are_errors() {
    let elf = compile("tables");
    for cut in [0, 3, 16, 64, elf.len() / 2, elf.len() - 1] {
        assert!(
            Module::from_bytes(&elf[..cut], "cut", &Linker::new()).is_err(),
            "cut at {cut}"
        );
    }
    // Flip bytes everywhere: never a crash, either an error or a module
    // that still passes every check.
    for i in (0..elf.len()).step_by(7) {
        let mut bad = elf.clone();
        bad[i] ^= 0x5a;
        let _ = Module::from_bytes(&bad, "flipped", &Linker::new());
    }
    let err = Module::from_bytes(b"not an elf file at all", "junk", &Linker::new()).unwrap_err();
    assert_eq!(err.to_string(), "invalid module file: not an ELF file");
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
    out
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
