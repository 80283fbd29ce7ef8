//! Writes a compiled module as a relocatable ELF object with the `object`
//! crate: a page-aligned `.text` with one symbol per function and per call
//! stub (and no relocations: the code reaches the runtime through the call
//! table the loader places after it), the encoded metadata, the function,
//! name and trap tables, the page-aligned memory image and the seal. The
//! result is a real ELF file that `readelf -a` and `objdump -d` read.

use object::write::{Object, StandardSection, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

use lucet_module::{
    blank_seal, encode_functions, encode_metadata, find_seal, trampoline_symbol, write_seal, Arch,
    ModuleData, NameTable, StackMapSite, StackMapTable, TrapCode, TrapTable, FUNCTION_SECTION,
    HEAP_IMAGE_SECTION, METADATA_SECTION, NAME_SECTION, PAGE_SIZE, SEAL_SECTION, STACK_MAP_SECTION,
    TRAP_SECTION,
};

use crate::codegen::CallStub;
use crate::Error;

pub use lucet_module::Signer;

/// What goes into the file.
pub struct Contents<'a> {
    pub data: &'a ModuleData,
    pub text: &'a [u8],
    pub stubs: &'a [CallStub],
    /// Trap sites of `.text`, sorted by offset.
    pub traps: &'a [(u32, TrapCode)],
    /// Call sites with live GC references, sorted by return address.
    pub stack_maps: &'a [StackMapSite],
    /// Function names, sorted by function index.
    pub names: &'a [(u32, String)],
    pub heap_image: &'a [u8],
    /// Signs the content hash, for a signed file.
    pub sign: Option<Signer<'a>>,
}

/// Produces the bytes of the ELF file, sealed: its content hash (and
/// signature, with `sign`) written into the seal section.
pub fn write_elf(c: Contents<'_>) -> Result<Vec<u8>, Error> {
    let Contents {
        data,
        text,
        stubs,
        traps,
        stack_maps,
        names,
        heap_image,
        sign,
    } = c;
    let architecture = match data.arch {
        Arch::X86_64 => Architecture::X86_64,
        Arch::Aarch64 => Architecture::Aarch64,
    };
    let mut obj = Object::new(BinaryFormat::Elf, architecture, Endianness::Little);
    let text_id = obj.section_id(StandardSection::Text);
    // Page-aligned in the file, so that the loader maps it as it lies.
    obj.set_section_data(text_id, text.to_vec(), PAGE_SIZE);

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
    for (i, f) in data.functions.iter().enumerate() {
        add_text_symbol(&mut obj, &data.symbol(i as u32), f.code.offset, f.code.len);
    }
    for t in &data.trampolines {
        add_text_symbol(
            &mut obj,
            &trampoline_symbol(t.func_index),
            t.code.offset,
            t.code.len,
        );
    }

    for stub in stubs {
        add_text_symbol(
            &mut obj,
            &format!("lucet_call_{}", stub.symbol),
            stub.offset,
            stub.len,
        );
    }

    let meta = obj.add_section(
        Vec::new(),
        METADATA_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(meta, encode_metadata(data)?, 8);

    let trap_table = obj.add_section(
        Vec::new(),
        TRAP_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(trap_table, TrapTable::encode(traps), 4);

    let stack_map_table = obj.add_section(
        Vec::new(),
        STACK_MAP_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(stack_map_table, StackMapTable::encode(stack_maps), 4);

    let functions = obj.add_section(
        Vec::new(),
        FUNCTION_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(functions, encode_functions(&data.functions), 4);

    let name_table = obj.add_section(
        Vec::new(),
        NAME_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(
        name_table,
        NameTable::encode(names.iter().map(|(i, n)| (*i, n.as_str()))),
        4,
    );

    let heap = obj.add_section(
        Vec::new(),
        HEAP_IMAGE_SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    obj.set_section_data(heap, heap_image.to_vec(), PAGE_SIZE);

    let seal = obj.add_section(
        Vec::new(),
        SEAL_SECTION.as_bytes().to_vec(),
        SectionKind::Metadata,
    );
    obj.set_section_data(seal, blank_seal(), 8);

    let mut bytes = obj
        .write()
        .map_err(|e| Error::Output(format!("ELF: {e}")))?;
    let at = find_seal(&bytes).map_err(|e| Error::Output(format!("seal: {e}")))?;
    write_seal(&mut bytes, at, sign).map_err(|e| Error::Output(format!("seal: {e}")))?;
    Ok(bytes)
}
