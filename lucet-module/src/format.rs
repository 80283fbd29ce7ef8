//! The compiled file's framing: section and symbol names, and the versioned
//! encoding of [`ModuleData`] (serde + postcard behind a magic and version).

use crate::{Error, ModuleData};

/// ELF section holding the encoded [`ModuleData`].
pub const METADATA_SECTION: &str = ".lucet_metadata";
/// ELF section holding the initial memory image (page-aligned chunks).
pub const HEAP_IMAGE_SECTION: &str = ".lucet_heap";
/// First bytes of the metadata section.
pub const METADATA_MAGIC: &[u8; 8] = b"LUCETMD\0";
/// Version of the format; bumped on every incompatible change to
/// [`ModuleData`], the instance header, builtins or calling conventions.
pub const FORMAT_VERSION: u32 = 17;
/// Host page size the image is laid out for.
pub const PAGE_SIZE: u64 = 4096;
/// WebAssembly page size.
pub const WASM_PAGE_SIZE: u64 = 65536;

/// Encodes metadata with its magic and version.
pub fn encode_metadata(data: &ModuleData) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(METADATA_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let body = postcard::to_stdvec(data).map_err(|e| Error::Serialize(e.to_string()))?;
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes metadata, checking magic, version and length first.
pub fn decode_metadata(bytes: &[u8]) -> Result<ModuleData, Error> {
    let magic = bytes.get(..8).ok_or(Error::BadMagic)?;
    if magic != METADATA_MAGIC {
        return Err(Error::BadMagic);
    }
    let version = bytes
        .get(8..12)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| Error::Corrupted("truncated header".into()))?;
    if version != FORMAT_VERSION {
        return Err(Error::VersionMismatch {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let len = bytes
        .get(12..20)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| Error::Corrupted("truncated header".into()))?;
    let body = &bytes[20..];
    if body.len() as u64 != len {
        return Err(Error::Corrupted(format!(
            "metadata is {} bytes, header says {len}",
            body.len()
        )));
    }
    postcard::from_bytes(body).map_err(|e| Error::Corrupted(e.to_string()))
}

/// A wasm name as it appears in a symbol: printable ASCII stays, anything
/// else (spaces, NUL, non-ASCII UTF-8 bytes) and `\` become `\xNN`, so
/// that every name makes a valid, unambiguous ELF symbol.
fn symbol_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Symbol of a defined function: `guest_func_<export name>` when exported,
/// `guest_internal_<index>` otherwise.
pub fn function_symbol(export_name: Option<&str>, index: u32) -> String {
    match export_name {
        Some(name) => format!("guest_func_{}", symbol_name(name)),
        None => format!("guest_internal_{index}"),
    }
}

/// Symbol of the stub through which guest code calls imported function
/// `module.name`.
pub fn import_stub_symbol(module: &str, name: &str) -> String {
    format!("guest_import_{}.{}", symbol_name(module), symbol_name(name))
}

/// Symbol of the array-convention entry of function `index`.
pub fn trampoline_symbol(index: u32) -> String {
    format!("guest_trampoline_{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FuncType, MemoryImage, SubType, ValType};

    fn sample() -> ModuleData {
        ModuleData {
            name: Some("m".into()),
            types: vec![SubType::func(FuncType::new([ValType::I32], [ValType::I64]))],
            rec_groups: vec![1],
            functions: Box::new([]),
            function_imports: vec![],
            handlers: vec![],
            trampolines: vec![],
            exports: vec![],
            start: None,
            memories: vec![],
            image: MemoryImage::default(),
            data_segments: vec![],
            globals: vec![],
            tables: vec![],
            elements: vec![],
            tags: vec![],
            funcref_slots: vec![],
            call_table: vec!["lucet_builtin_memory_grow".into()],
            arch: crate::Arch::X86_64,
            cpu_features: vec!["sse4.1".into()],
            interruptible: true,
            counts_instructions: false,
            component: None,
        }
    }

    #[test]
    fn symbols_escape_what_elf_cannot_hold() {
        assert_eq!(function_symbol(Some("fac"), 0), "guest_func_fac");
        assert_eq!(
            function_symbol(Some("a\0b c"), 0),
            "guest_func_a\\x00b\\x20c"
        );
        assert_eq!(function_symbol(Some("é"), 0), "guest_func_\\xc3\\xa9");
        assert_eq!(function_symbol(None, 3), "guest_internal_3");
        assert_eq!(import_stub_symbol("env", "f"), "guest_import_env.f");
    }

    #[test]
    fn round_trips() {
        let bytes = encode_metadata(&sample()).unwrap();
        assert_eq!(decode_metadata(&bytes).unwrap(), sample());
    }

    #[test]
    fn rejects_other_versions() {
        let mut bytes = encode_metadata(&sample()).unwrap();
        bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(matches!(
            decode_metadata(&bytes),
            Err(Error::VersionMismatch { .. })
        ));
    }

    #[test]
    fn rejects_truncation_and_garbage() {
        let bytes = encode_metadata(&sample()).unwrap();
        for cut in [0, 5, 10, 15, bytes.len() - 1] {
            assert!(decode_metadata(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(
            decode_metadata(b"ELFjunk!...."),
            Err(Error::BadMagic)
        ));
        let mut corrupt = bytes.clone();
        for b in &mut corrupt[20..] {
            *b = 0xff;
        }
        assert!(decode_metadata(&corrupt).is_err());
    }
}
