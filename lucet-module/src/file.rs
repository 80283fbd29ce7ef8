//! Reading a compiled module file: its section headers (`elf.rs`), the
//! seal (the content hash is checked before anything else is read), then
//! the metadata, decoded and validated. The runtime's loader and
//! `lucet-objdump` both read files through here.
//!
//! Every index that instantiation will follow is checked, so that a
//! truncated, corrupted or mismatched file is an error when it is read and
//! never undefined behaviour later.

use crate::elf::{section_bytes, SectionTable, SHT_REL, SHT_RELA};
use crate::{
    decode_functions, decode_metadata, CodeRange, CompositeType, ConstExpr, ConstOp, ElemItems,
    ElemSegmentKind, Error, ExportKind, FieldType, Handler, HeapType, ModuleData, NameTable,
    RefType, Seal, StackMapTable, StorageType, TrapTable, ValType, FUNCTION_SECTION,
    HEAP_IMAGE_SECTION, MAX_SUBTYPING_DEPTH, METADATA_SECTION, NAME_SECTION, PAGE_SIZE,
    SEAL_SECTION, STACK_MAP_SECTION, TRAP_SECTION, WASM_PAGE_SIZE,
};

/// A compiled module file, read and checked.
#[derive(Debug)]
pub struct ModuleFile<'a> {
    /// The metadata.
    pub data: ModuleData,
    /// The machine code, as it is mapped.
    pub text: &'a [u8],
    /// File offset of `.text` (a multiple of [`PAGE_SIZE`], as is its
    /// length).
    pub text_offset: u64,
    /// File offset of the heap image section.
    pub heap_image_offset: u64,
    /// Length of the heap image section.
    pub heap_image_len: u64,
    /// The seal: the content hash (checked) and the signature, if any.
    pub seal: Seal,
    /// The trap table, where it lies.
    pub traps: TrapTable<'a>,
    /// File offset and length of the trap table section.
    pub traps_at: (u64, u64),
    /// The stack maps, where they lie.
    pub stack_maps: StackMapTable<'a>,
    /// File offset and length of the stack map section.
    pub stack_maps_at: (u64, u64),
    /// The function names, where they lie.
    pub names: NameTable<'a>,
    /// File offset and length of the name table section.
    pub names_at: (u64, u64),
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidFile(msg.into())
}

impl<'a> ModuleFile<'a> {
    /// Reads and checks the bytes of a compiled module file: its seal first
    /// (the hash of every other byte), then everything else.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        parse_file(bytes)
    }
}

/// Where the seal section lies in `bytes` (an ELF file as `lucetc` writes
/// it).
pub fn find_seal(bytes: &[u8]) -> Result<std::ops::Range<usize>, Error> {
    seal_range(&SectionTable::parse(bytes)?)
}

fn seal_range(sections: &SectionTable<'_>) -> Result<std::ops::Range<usize>, Error> {
    let (_, s) = sections.find(SEAL_SECTION).ok_or_else(|| {
        invalid(format!(
            "no {SEAL_SECTION} section: not a Lucet module of this format (recompile it with this lucetc)"
        ))
    })?;
    Ok(s.offset as usize..(s.offset + s.size) as usize)
}

fn parse_file(bytes: &[u8]) -> Result<ModuleFile<'_>, Error> {
    let sections = SectionTable::parse(bytes)?;
    let seal_at = seal_range(&sections)?;
    let seal = crate::read_seal(&bytes[seal_at.clone()])?;
    if crate::content_hash(bytes, seal_at) != seal.hash {
        return Err(Error::Damaged("hash mismatch".into()));
    }
    let find = |name: &str| {
        sections
            .find(name)
            .ok_or_else(|| invalid(format!("no {name} section: not a Lucet module")))
    };
    let (text_index, text_sh) = find(".text")?;
    let (_, meta_sh) = find(METADATA_SECTION)?;
    let (_, heap_sh) = find(HEAP_IMAGE_SECTION)?;
    let (_, traps_sh) = find(TRAP_SECTION)?;
    let traps = TrapTable::new(section_bytes(bytes, traps_sh))?;
    let (_, stack_maps_sh) = find(STACK_MAP_SECTION)?;
    let stack_maps = StackMapTable::new(section_bytes(bytes, stack_maps_sh))?;
    let (_, functions_sh) = find(FUNCTION_SECTION)?;
    let (_, names_sh) = find(NAME_SECTION)?;
    let names = NameTable::new(section_bytes(bytes, names_sh))?;

    let text = section_bytes(bytes, text_sh);
    if text.is_empty() || text_sh.offset % PAGE_SIZE != 0 || text.len() as u64 % PAGE_SIZE != 0 {
        return Err(invalid("the code is not page-aligned in the file"));
    }
    // Nothing in the code is relocated at load: it reaches the runtime
    // through the call table.
    if sections
        .iter()
        .any(|s| (s.kind == SHT_RELA || s.kind == SHT_REL) && s.info as usize == text_index)
    {
        return Err(invalid(
            "the code has relocations: not a Lucet module of this format (recompile it with this lucetc)",
        ));
    }
    let mut data = decode_metadata(section_bytes(bytes, meta_sh))?;
    if data.arch != sections.arch {
        return Err(invalid(format!(
            "the metadata says {} code, the ELF header {}",
            data.arch, sections.arch
        )));
    }
    data.functions = decode_functions(section_bytes(bytes, functions_sh))?;
    let heap_len = heap_sh.size;
    validate(&data, text.len() as u64, heap_len)?;
    Ok(ModuleFile {
        data,
        text,
        text_offset: text_sh.offset,
        heap_image_offset: heap_sh.offset,
        heap_image_len: heap_len,
        seal,
        traps,
        traps_at: (traps_sh.offset, traps_sh.size),
        stack_maps,
        stack_maps_at: (stack_maps_sh.offset, stack_maps_sh.size),
        names,
        names_at: (names_sh.offset, names_sh.size),
    })
}

fn check_expr(data: &ModuleData, e: &ConstExpr, what: &str) -> Result<(), Error> {
    for op in &e.0 {
        match op {
            ConstOp::GlobalGet(g) if *g as usize >= data.globals.len() => {
                return Err(invalid(format!(
                    "{what} reads global {g}, which does not exist"
                )))
            }
            ConstOp::RefFunc(f) if data.funcref_slot(*f).is_none() => {
                return Err(invalid(format!(
                    "{what} refers to function {f}, which cannot be referenced"
                )))
            }
            ConstOp::StructNew(t) | ConstOp::StructNewDefault(t)
                if data
                    .types
                    .get(*t as usize)
                    .and_then(|t| t.as_struct())
                    .is_none() =>
            {
                return Err(invalid(format!(
                    "{what} creates a struct of type {t}, which is not a struct type"
                )))
            }
            ConstOp::ArrayNew(t) | ConstOp::ArrayNewDefault(t) | ConstOp::ArrayNewFixed(t, _)
                if data
                    .types
                    .get(*t as usize)
                    .and_then(|t| t.as_array())
                    .is_none() =>
            {
                return Err(invalid(format!(
                    "{what} creates an array of type {t}, which is not an array type"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks the type section: its groups cover it; a type refers only to
/// types of earlier groups and its own, each reference names a type of the
/// kind it says; a supertype comes earlier, is not final, and has the same
/// kind. (That a subtype's fields extend its supertype's is the compiler's
/// validation, which the code it generated relies on like the rest of
/// validation; the loader's own walks only need the indices in bounds.)
fn validate_types(data: &ModuleData) -> Result<(), Error> {
    let total: u64 = data.rec_groups.iter().map(|n| u64::from(*n)).sum();
    if total != data.types.len() as u64 || data.rec_groups.contains(&0) {
        return Err(invalid(
            "the recursive type groups do not cover the type section",
        ));
    }
    let mut depth = vec![0u32; data.types.len()];
    for (first, count) in data.rec_group_ranges() {
        let end = first as usize + count as usize;
        for i in first as usize..end {
            let t = &data.types[i];
            let refs_ok = t
                .composite
                .concrete_refs()
                .into_iter()
                .all(|r| (r as usize) < end)
                && kinds_match(data, &t.composite);
            if !refs_ok {
                return Err(invalid(format!(
                    "type {i} refers to a later type, or to a type of another kind"
                )));
            }
            if let Some(s) = t.supertype {
                let ok = (s as usize) < i
                    && data.types.get(s as usize).is_some_and(|sup| {
                        !sup.is_final && sup.composite.kind() == t.composite.kind()
                    });
                if !ok {
                    return Err(invalid(format!("type {i} has a bad supertype")));
                }
                depth[i] = depth[s as usize] + 1;
                if depth[i] > MAX_SUBTYPING_DEPTH {
                    return Err(invalid(format!(
                        "type {i} has more than {} supertypes above it",
                        MAX_SUBTYPING_DEPTH
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Whether `t`, if it is a reference to a concrete type, names a type of
/// the module of the kind it says.
fn names_its_kind(data: &ModuleData, t: &ValType) -> bool {
    match t {
        ValType::Ref(RefType {
            heap: HeapType::Concrete { index, kind },
            ..
        }) => data
            .types
            .get(*index as usize)
            .is_some_and(|t| t.composite.kind() == *kind),
        _ => true,
    }
}

/// Whether every concrete reference in `c` names a type of its kind.
fn kinds_match(data: &ModuleData, c: &CompositeType) -> bool {
    let ok = |t: &ValType| names_its_kind(data, t);
    let field = |f: &FieldType| match f.storage {
        StorageType::Val(t) => ok(&t),
        _ => true,
    };
    match c {
        CompositeType::Func(f) => f.params.iter().chain(&f.results).all(ok),
        CompositeType::Struct(fields) => fields.iter().all(field),
        CompositeType::Array(e) => field(e),
    }
}

/// Checks every index and range in the metadata.
fn validate(data: &ModuleData, text_len: u64, heap_len: u64) -> Result<(), Error> {
    let nfuncs = data.functions.len();
    if data.function_imports.len() > nfuncs {
        return Err(invalid("more imported functions than functions"));
    }
    let in_text = |r: &CodeRange| (r.offset as u64 + r.len as u64) <= text_len;
    let mut previous_offset = 0;
    for (i, f) in data.functions.iter().enumerate() {
        if data.signature(f.type_index).is_none() {
            return Err(invalid(format!("function {i} has an unknown type")));
        }
        if !in_text(&f.code) {
            return Err(invalid(format!("function {i}'s code lies outside .text")));
        }
        if f.code.offset < previous_offset {
            return Err(invalid("functions are not laid out in order"));
        }
        previous_offset = f.code.offset;
    }
    if data
        .handlers
        .windows(2)
        .any(|w| w[0].func_index >= w[1].func_index)
    {
        return Err(invalid("exception handler tables are not sorted"));
    }
    for h in &data.handlers {
        let i = h.func_index;
        let Some(f) = data.functions.get(i as usize) else {
            return Err(invalid(format!(
                "exception handlers of function {i}, which does not exist"
            )));
        };
        let handler_ok = |h: &Handler| match *h {
            Handler::Tag { tag, target } => (tag as usize) < data.tags.len() && target < f.code.len,
            Handler::All { target } => target < f.code.len,
        };
        if h.sites
            .windows(2)
            .any(|w| w[0].return_offset >= w[1].return_offset)
            || h.sites.iter().any(|s| {
                s.return_offset > f.code.len
                    || s.frame_offset % 8 != 0
                    || s.vmctx_fp_offset % 8 != 0
                    || !s.handlers.iter().all(handler_ok)
            })
        {
            return Err(invalid(format!(
                "function {i}: bad exception handler table"
            )));
        }
    }
    validate_types(data)?;
    // A reference to a concrete type names a type of that kind.
    let type_ok = |t: &ValType| names_its_kind(data, t);
    for (i, g) in data.globals.iter().enumerate() {
        if !type_ok(&g.ty) {
            return Err(invalid(format!("global {i} has an unknown type")));
        }
    }
    for (i, t) in data.tables.iter().enumerate() {
        if !type_ok(&ValType::Ref(t.elem)) {
            return Err(invalid(format!("table {i} has an unknown element type")));
        }
        if t.max.is_some_and(|max| max < t.min) {
            return Err(invalid(format!(
                "table {i}: its minimum exceeds its maximum"
            )));
        }
        // The format's bound: 32-bit tables index with 32 bits.
        let bound = if t.table64 {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if t.min > bound || t.max.is_some_and(|max| max > bound) {
            return Err(invalid(format!(
                "table {i}: its size is beyond what its index type can address"
            )));
        }
    }
    for (i, t) in data.tags.iter().enumerate() {
        match data.signature(t.type_index) {
            Some(ty) if ty.results.is_empty() => {}
            _ => return Err(invalid(format!("tag {i} has a bad type"))),
        }
    }
    for t in &data.trampolines {
        if t.func_index as usize >= nfuncs || !in_text(&t.code) {
            return Err(invalid("bad trampoline"));
        }
    }
    if data
        .trampolines
        .windows(2)
        .any(|w| w[0].func_index >= w[1].func_index)
    {
        return Err(invalid("trampolines are not sorted"));
    }
    for e in &data.exports {
        let ok = match e.kind {
            ExportKind::Func(i) => data.trampoline(i).is_some() && data.funcref_slot(i).is_some(),
            ExportKind::Table(i) => (i as usize) < data.tables.len(),
            ExportKind::Memory(i) => (i as usize) < data.memories.len(),
            ExportKind::Global(i) => (i as usize) < data.globals.len(),
            ExportKind::Tag(i) => (i as usize) < data.tags.len(),
        };
        if !ok {
            return Err(invalid(format!("export {:?} refers to nothing", e.name)));
        }
    }
    if let Some(s) = data.start {
        if data.trampoline(s).is_none() {
            return Err(invalid("the start function has no entry point"));
        }
        if data
            .func_type(s)
            .map_or(true, |t| !t.params.is_empty() || !t.results.is_empty())
        {
            return Err(invalid("the start function must take and return nothing"));
        }
    }
    if data.call_table.iter().any(|s| s.is_empty() || s.len() > 64) {
        return Err(invalid("bad call table"));
    }
    if data.funcref_slots.windows(2).any(|w| w[0] >= w[1])
        || data.funcref_slots.iter().any(|f| *f as usize >= nfuncs)
    {
        return Err(invalid("bad funcref slots"));
    }
    for (i, g) in data.globals.iter().enumerate() {
        match (&g.init, &g.import) {
            (Some(init), None) => check_expr(data, init, &format!("global {i}"))?,
            (None, Some(_)) => {}
            _ => {
                return Err(invalid(format!(
                    "global {i} is neither defined nor imported"
                )))
            }
        }
    }
    for (i, e) in data.elements.iter().enumerate() {
        let what = format!("element segment {i}");
        if let ElemSegmentKind::Active { table, offset } = &e.kind {
            if *table as usize >= data.tables.len() {
                return Err(invalid(format!("{what} names a table that does not exist")));
            }
            check_expr(data, offset, &what)?;
        }
        match &e.items {
            ElemItems::Functions(fs) => {
                if fs.iter().any(|f| data.funcref_slot(*f).is_none()) {
                    return Err(invalid(format!(
                        "{what} names a function that cannot be referenced"
                    )));
                }
            }
            ElemItems::Exprs(es) => {
                for ex in es {
                    check_expr(data, ex, &what)?;
                }
            }
        }
    }
    for (i, d) in data.data_segments.iter().enumerate() {
        if let Some(offset) = &d.active_offset {
            check_expr(data, offset, &format!("data segment {i}"))?;
            if d.memory as usize >= data.memories.len() {
                return Err(invalid(format!(
                    "data segment {i} names a memory that does not exist"
                )));
            }
        }
    }
    for m in &data.memories {
        let h = &m.heap;
        if h.reserved_size % WASM_PAGE_SIZE != 0 || h.guard_size % PAGE_SIZE != 0 {
            return Err(invalid("heap reservation is not page-aligned"));
        }
        if h.max_pages.is_some_and(|max| max < h.initial_pages) {
            return Err(invalid("a memory's minimum exceeds its maximum"));
        }
        // The format's bound: 2^16 pages of 32-bit memory (4 GiB), 2^48 of
        // memory64; sizes in bytes then fit in 64 bits.
        let bound = if m.memory64 { 1 << 48 } else { 1 << 16 };
        if h.initial_pages > bound || h.max_pages.is_some_and(|max| max > bound) {
            return Err(invalid(
                "a memory's size is beyond what its index type can address",
            ));
        }
    }
    let mut end = 0;
    for c in &data.image.chunks {
        let aligned = c.heap_offset % PAGE_SIZE == 0
            && c.section_offset % PAGE_SIZE == 0
            && c.len % PAGE_SIZE == 0;
        let in_section = c
            .section_offset
            .checked_add(c.len)
            .is_some_and(|e| e <= heap_len);
        let initial = data
            .memories
            .first()
            .filter(|m| m.import.is_none())
            .map_or(0, |m| m.heap.initial_pages * WASM_PAGE_SIZE);
        let chunk_end = c.heap_offset.checked_add(c.len);
        if !aligned
            || !in_section
            || c.heap_offset < end
            || !chunk_end.is_some_and(|e| e <= initial)
        {
            return Err(invalid("bad memory image chunk"));
        }
        end = c.heap_offset + c.len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FuncType, MemoryImage, SubType};

    fn module(types: Vec<SubType>, rec_groups: Vec<u32>) -> ModuleData {
        ModuleData {
            name: None,
            types,
            rec_groups,
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
            call_table: vec![],
            arch: crate::Arch::X86_64,
            cpu_features: vec![],
            interruptible: false,
            counts_instructions: false,
            component: None,
        }
    }

    fn open(supertype: Option<u32>) -> SubType {
        SubType {
            is_final: false,
            supertype,
            composite: CompositeType::Func(FuncType::new([], [])),
        }
    }

    fn struct_ref(index: u32, kind: crate::TypeKind) -> FieldType {
        FieldType {
            storage: StorageType::Val(ValType::Ref(RefType::nullable(HeapType::Concrete {
                index,
                kind,
            }))),
            mutable: false,
        }
    }

    #[test]
    fn type_sections_are_checked() {
        let ok = |types, groups| validate_types(&module(types, groups)).is_ok();
        assert!(ok(vec![open(None), open(Some(0))], vec![1, 1]));
        // Groups must cover the section.
        assert!(!ok(vec![open(None), open(Some(0))], vec![1]));
        assert!(!ok(vec![open(None)], vec![0, 1]));
        // A supertype comes first, is open, and is of the same kind.
        assert!(!ok(vec![open(Some(1)), open(None)], vec![1, 1]));
        let mut closed = open(None);
        closed.is_final = true;
        assert!(!ok(vec![closed, open(Some(0))], vec![1, 1]));
        let strukt = |fields| SubType {
            is_final: false,
            supertype: None,
            composite: CompositeType::Struct(fields),
        };
        let mut sub_struct = strukt(vec![]);
        sub_struct.supertype = Some(0);
        assert!(!ok(vec![open(None), sub_struct], vec![1, 1]));
        // References inside a group may go forward; out of it, not.
        let s = crate::TypeKind::Struct;
        let forward = vec![strukt(vec![struct_ref(1, s)]), strukt(vec![])];
        assert!(ok(forward.clone(), vec![2]));
        assert!(!ok(forward, vec![1, 1]));
        // A reference says the kind of the type it names.
        let wrong_kind = vec![strukt(vec![struct_ref(0, crate::TypeKind::Array)])];
        assert!(!ok(wrong_kind, vec![1]));
    }

    #[test]
    fn supertype_chains_are_bounded() {
        let deep = |n: u32| {
            let types: Vec<SubType> = (0..n).map(|i| open(i.checked_sub(1))).collect();
            validate_types(&module(types, vec![1; n as usize]))
        };
        assert!(deep(MAX_SUBTYPING_DEPTH + 1).is_ok());
        let err = deep(MAX_SUBTYPING_DEPTH + 2).unwrap_err().to_string();
        assert!(err.contains("more than 63 supertypes"), "{err}");
    }
}
