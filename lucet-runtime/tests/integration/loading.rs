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
