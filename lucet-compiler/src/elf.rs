//! Writes a compiled module as a relocatable ELF object with the `object`
//! crate: `.text` with one symbol per function, relocations against runtime
//! symbols, the encoded metadata, and the page-aligned memory image. The
//! result is a real ELF file that `readelf -a` and `objdump -d` read.

use object::write::{Object, Relocation, StandardSection, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationEncoding, RelocationFlags, RelocationKind,
    SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};
use std::collections::HashMap;

use lucet_module::{
    encode_metadata, trampoline_symbol, ModuleData, HEAP_IMAGE_SECTION, METADATA_SECTION, PAGE_SIZE,
};

use crate::codegen::TextReloc;
use crate::Error;

/// Produces the bytes of the ELF file.
pub fn write_elf(
    data: &ModuleData,
    text: &[u8],
    relocs: &[TextReloc],
    heap_image: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text_id = obj.section_id(StandardSection::Text);
    obj.set_section_data(text_id, text.to_vec(), 16);

    let add_text_symbol = |obj: &mut Object, name: &str, offset: u32, len: u32| {
        obj.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value: offset as u64,
            size: len as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(text_id),
            flags: SymbolFlags::None,
        });
    };
    for f in &data.functions {
        add_text_symbol(&mut obj, &f.symbol, f.code.offset, f.code.len);
    }
    for t in &data.trampolines {
        add_text_symbol(
            &mut obj,
            &trampoline_symbol(t.func_index),
            t.code.offset,
            t.code.len,
        );
    }

    let mut undefined: HashMap<&str, SymbolId> = HashMap::new();
    for r in relocs {
        let symbol = *undefined.entry(r.symbol.as_str()).or_insert_with(|| {
            obj.add_symbol(Symbol {
                name: r.symbol.as_bytes().to_vec(),
                value: 0,
                size: 0,
                kind: SymbolKind::Text,
                scope: SymbolScope::Unknown,
                weak: false,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::None,
            })
        });
        obj.add_relocation(
            text_id,
            Relocation {
                offset: r.offset as u64,
                symbol,
                addend: r.addend,
                flags: RelocationFlags::Generic {
                    kind: RelocationKind::Absolute,
                    encoding: RelocationEncoding::Generic,
                    size: 64,
                },
            },
        )
        .map_err(|e| Error::Output(format!("relocation: {e}")))?;
    }

    let meta = obj.add_section(
        Vec::new(),
        METADATA_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(meta, encode_metadata(data)?, 8);

    let heap = obj.add_section(
        Vec::new(),
        HEAP_IMAGE_SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    obj.set_section_data(heap, heap_image.to_vec(), PAGE_SIZE);

    obj.write().map_err(|e| Error::Output(format!("ELF: {e}")))
}
