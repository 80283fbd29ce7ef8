//! `ModuleData`: everything about a compiled module except its machine code,
//! serialized into the compiled file's metadata section.

use serde::{Deserialize, Serialize};

use crate::{ConstExpr, FuncType, FunctionSpec, NameTable, RefType, SubType, ValType};

/// Where a piece of code lies in the `.text` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CodeRange {
    /// Byte offset from the start of `.text`.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

impl CodeRange {
    /// One past the last byte.
    pub fn end(&self) -> u32 {
        self.offset + self.len
    }
}

/// A call inside a `try_table`: where its exception handlers are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerSite {
    /// Offset of the call's return address from the start of the function.
    pub return_offset: u32,
    /// Distance from the frame pointer down to the stack pointer at the
    /// call: a handler resumes with this stack pointer.
    pub frame_offset: u32,
    /// Where the function keeps its vmctx, as an offset from the frame
    /// pointer: the instance whose tags the handlers name.
    pub vmctx_fp_offset: i32,
    /// The handlers, in order: the first that matches wins.
    pub handlers: Vec<Handler>,
}

/// One entry of a call's exception handler list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handler {
    /// Exceptions of the module's tag `tag` go to `target`.
    Tag {
        /// Tag index, in the module of the context instance.
        tag: u32,
        /// Handler offset from the start of the function.
        target: u32,
    },
    /// Every exception goes to `target`.
    All {
        /// Handler offset from the start of the function.
        target: u32,
    },
}

/// `module.name` of an import.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImportName {
    /// The module part.
    pub module: String,
    /// The field part.
    pub name: String,
}

impl std::fmt::Display for ImportName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}",
            crate::GuestName(&self.module),
            crate::GuestName(&self.name)
        )
    }
}

/// The exception handler table of one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionHandlers {
    /// The function.
    pub func_index: u32,
    /// Its calls with exception handlers, sorted by return offset.
    pub sites: Vec<HandlerSite>,
}

/// An array-convention entry point, through which the host calls a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trampoline {
    /// The function it calls.
    pub func_index: u32,
    /// Its code.
    pub code: CodeRange,
}

/// What an export refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportKind {
    /// A function index.
    Func(u32),
    /// A table index.
    Table(u32),
    /// A memory index.
    Memory(u32),
    /// A global index.
    Global(u32),
    /// A tag index.
    Tag(u32),
}

/// An export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// Exported name.
    pub name: String,
    /// What it refers to.
    pub kind: ExportKind,
}

/// The linear-memory layout the module was compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapSpec {
    /// Address space reserved for the heap; accesses below it need no
    /// bounds check when it is at least 4 GiB.
    pub reserved_size: u64,
    /// Inaccessible address space after the reservation.
    pub guard_size: u64,
    /// Initial size in wasm pages.
    pub initial_pages: u64,
    /// Maximum size in wasm pages, if the module declares one.
    pub max_pages: Option<u64>,
}

/// A linear memory of the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySpec {
    /// Layout and limits.
    pub heap: HeapSpec,
    /// Where the memory is imported from, if it is imported.
    pub import: Option<ImportName>,
    /// Whether generated code checks bounds explicitly (small reservations,
    /// 64-bit addresses).
    pub bounds_checked: bool,
    /// Whether its addresses are 64 bits (memory64).
    pub memory64: bool,
}

/// An exception tag of the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSpec {
    /// The type of its payload: a function type with no results.
    pub type_index: u32,
    /// Where it is imported from, for an imported tag.
    pub import: Option<ImportName>,
}

/// A run of initialized host pages of the initial memory image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageChunk {
    /// Offset in linear memory (page-aligned).
    pub heap_offset: u64,
    /// Offset in the heap image section (page-aligned).
    pub section_offset: u64,
    /// Length in bytes (a multiple of the page size).
    pub len: u64,
}

/// The initial contents of linear memory: sparse, page-aligned chunks; pages
/// that are all zero are not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryImage {
    /// Chunks, sorted by `heap_offset`, not overlapping.
    pub chunks: Vec<ImageChunk>,
}

impl MemoryImage {
    /// Total bytes stored.
    pub fn stored_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.len).sum()
    }
}

/// A data segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSegment {
    /// The memory an active segment initializes.
    pub memory: u32,
    /// For an active segment, its offset in memory.
    pub active_offset: Option<ConstExpr>,
    /// True when the segment is already part of the memory image.
    pub in_image: bool,
    /// Its bytes, when the runtime needs them (passive, or active and not in
    /// the image).
    pub bytes: Vec<u8>,
}

/// A global.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalSpec {
    /// Value type.
    pub ty: ValType,
    /// Whether it is mutable.
    pub mutable: bool,
    /// Initial value, for a defined global.
    pub init: Option<ConstExpr>,
    /// Where it is imported from, for an imported global.
    pub import: Option<ImportName>,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Element type.
    pub elem: RefType,
    /// Initial size.
    pub min: u64,
    /// Maximum size.
    pub max: Option<u64>,
    /// Whether its indices are 64 bits (table64).
    pub table64: bool,
    /// The value of its elements after instantiation (null if none).
    pub init: Option<ConstExpr>,
    /// Where it is imported from, for an imported table.
    pub import: Option<ImportName>,
}

/// How an element segment is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ElemSegmentKind {
    /// Copied into `table` at `offset` on instantiation.
    Active {
        /// Table index.
        table: u32,
        /// Offset expression.
        offset: ConstExpr,
    },
    /// Available to `table.init`.
    Passive,
    /// Only declares functions as referenceable.
    Declared,
}

/// The items of an element segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ElemItems {
    /// Function indices.
    Functions(Vec<u32>),
    /// Constant expressions (`ref.null`, `ref.func`, `global.get`).
    Exprs(Vec<ConstExpr>),
}

impl ElemItems {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            ElemItems::Functions(f) => f.len(),
            ElemItems::Exprs(e) => e.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElemSegment {
    /// Active, passive or declared.
    pub kind: ElemSegmentKind,
    /// Element type.
    pub ty: RefType,
    /// Items.
    pub items: ElemItems,
}

/// Everything about a compiled module except its machine code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleData {
    /// Module name from the name section.
    pub name: Option<String>,
    /// The type section, in order.
    pub types: Vec<SubType>,
    /// The sizes of its recursive groups, in order (they add up to
    /// `types.len()`; a type outside an explicit `rec` is a group of one).
    pub rec_groups: Vec<u32>,
    /// The function index space, imports first: not part of the encoded
    /// metadata, but read from its own section ([`crate::FUNCTION_SECTION`])
    /// by [`crate::ModuleFile::parse`].
    #[serde(skip)]
    pub functions: Box<[FunctionSpec]>,
    /// Where each imported function comes from: function `i` is imported
    /// from `function_imports[i]`, for `i` below its length.
    pub function_imports: Vec<ImportName>,
    /// Exception handler tables of the functions that have any (calls
    /// inside `try_table`), sorted by function index.
    pub handlers: Vec<FunctionHandlers>,
    /// Array-convention entry points, sorted by function index.
    pub trampolines: Vec<Trampoline>,
    /// Exports.
    pub exports: Vec<Export>,
    /// The start function.
    pub start: Option<u32>,
    /// The linear memories, by memory index (imports first).
    pub memories: Vec<MemorySpec>,
    /// Initial image of memory 0, when the module defines it.
    pub image: MemoryImage,
    /// Data segments, by data index.
    pub data_segments: Vec<DataSegment>,
    /// Globals, by global index (imports first).
    pub globals: Vec<GlobalSpec>,
    /// Tables, by table index (imports first).
    pub tables: Vec<TableSpec>,
    /// Element segments, by element index.
    pub elements: Vec<ElemSegment>,
    /// Exception tags, by tag index (imports first).
    pub tags: Vec<TagSpec>,
    /// Functions that can be referenced as `funcref` values; slot `i` of the
    /// instance's funcref records describes function `funcref_slots[i]`.
    pub funcref_slots: Vec<u32>,
    /// The call table: the runtime symbol of each of its 8-byte slots. The
    /// table lies right after `.text` (whose size is a multiple of
    /// [`crate::PAGE_SIZE`]); code calls the runtime through stubs at the
    /// end of `.text` that jump through these slots, so that the code
    /// itself needs no relocation and is mapped straight from the file.
    pub call_table: Vec<String>,
    /// The instruction set of the code (also the ELF header's machine).
    pub arch: crate::Arch,
    /// CPU features the code was compiled to use (`"sse4.1"`, `"avx2"`, ...).
    pub cpu_features: Vec<String>,
    /// Whether the code checks `InstanceHeader::interrupt` at loop headers
    /// (function entries are interrupted through the stack limit), so that
    /// kill switches and timeouts can stop it while it runs.
    pub interruptible: bool,
    /// Whether the code counts executed instructions against the
    /// instance's fuel (`InstanceHeader::fuel`).
    pub counts_instructions: bool,
    /// When the module was a component: what its imports and exports are
    /// at the component level (the canonical ABI's types and options), for
    /// the host to bind and call them.
    pub component: Option<lucet_component::ComponentAbi>,
}

impl ModuleData {
    /// The signature of function `index`.
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        let f = self.functions.get(index as usize)?;
        self.signature(f.type_index)
    }

    /// The signature type `type_index` defines, if it is a function type.
    pub fn signature(&self, type_index: u32) -> Option<&FuncType> {
        self.types.get(type_index as usize)?.as_func()
    }

    /// The type indices of each recursive group: `(first, count)`.
    pub fn rec_group_ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.rec_groups.iter().scan(0u32, |start, &n| {
            let first = *start;
            *start = start.saturating_add(n);
            Some((first, n))
        })
    }

    /// The export called `name`.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// The array-convention entry of function `index`.
    pub fn trampoline(&self, func_index: u32) -> Option<&Trampoline> {
        self.trampolines
            .binary_search_by_key(&func_index, |t| t.func_index)
            .ok()
            .map(|i| &self.trampolines[i])
    }

    /// The funcref slot of function `index`, if it can be referenced.
    pub fn funcref_slot(&self, func_index: u32) -> Option<u32> {
        self.funcref_slots
            .binary_search(&func_index)
            .ok()
            .map(|i| i as u32)
    }

    /// Number of imported functions (the first entries of `functions`).
    pub fn num_imported_funcs(&self) -> u32 {
        self.function_imports.len() as u32
    }

    /// Where function `index` is imported from, for an imported function.
    pub fn import_of(&self, index: u32) -> Option<&ImportName> {
        self.function_imports.get(index as usize)
    }

    /// The function whose code contains `text_offset` (binary search:
    /// functions are laid out in index order).
    pub fn function_at(&self, text_offset: u32) -> Option<(u32, &FunctionSpec)> {
        let i = self
            .functions
            .partition_point(|f| f.code.offset <= text_offset);
        let i = i.checked_sub(1)?;
        let f = &self.functions[i];
        (text_offset < f.code.end()).then_some((i as u32, f))
    }

    /// The exception handlers of the call in function `func_index` that
    /// returns to `return_offset` bytes into it (binary searches).
    pub fn handlers_at(&self, func_index: u32, return_offset: u32) -> Option<&HandlerSite> {
        let f = self
            .handlers
            .binary_search_by_key(&func_index, |h| h.func_index)
            .ok()?;
        let sites = &self.handlers[f].sites;
        sites
            .binary_search_by_key(&return_offset, |h| h.return_offset)
            .ok()
            .map(|i| &sites[i])
    }

    /// The ELF symbol of function `index`'s code.
    pub fn symbol(&self, index: u32) -> String {
        match self.import_of(index) {
            Some(imp) => crate::import_stub_symbol(&imp.module, &imp.name),
            None => crate::function_symbol(
                self.exports
                    .iter()
                    .find(|e| e.kind == ExportKind::Func(index))
                    .map(|e| e.name.as_str()),
                index,
            ),
        }
    }

    /// The name to show for function `index`: an export name, its name in
    /// `names` (the module's name table), its import name, or `func[N]`,
    /// escaped for printing ([`crate::GuestName`]).
    pub fn display_name(&self, index: u32, names: &NameTable<'_>) -> String {
        if let Some(e) = self
            .exports
            .iter()
            .find(|e| e.kind == ExportKind::Func(index))
        {
            return crate::GuestName(&e.name).to_string();
        }
        if let Some(name) = names.get(index) {
            return crate::GuestName(name).to_string();
        }
        match self.import_of(index) {
            Some(imp) => imp.to_string(),
            None => format!("func[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_entry_stays_small() {
        // One per function of a loaded module: its size is most of what a
        // large module keeps resident before it runs.
        assert_eq!(std::mem::size_of::<FunctionSpec>(), 12);
    }
}
