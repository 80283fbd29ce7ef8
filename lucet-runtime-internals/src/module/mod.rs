//! A loaded module: its code mapped read+execute, its metadata, the file its
//! memory image is mapped from, and its imports resolved against a
//! [`Linker`].
//!
//! Loading works on a private copy of the file in this process's memory
//! (`PrivateCopy`: what is checked is what runs, and nothing can shrink
//! or change it). It reads the copy's sections (through
//! `lucet_module::ModuleFile`, which checks the content hash before
//! anything else), copies out the tables it keeps, puts a large memory
//! image in a sealed file of its own (to be mapped copy-on-write), moves
//! the pages of `.text` to where they run, read+execute, and fills the
//! call table after them with the runtime's own symbols, which the caller
//! hands in (`load.rs` gives the builtins'): loading knows nothing of
//! running. The rest of the copy is given back. Imports are resolved and
//! their signatures checked here, once, not per instance.

mod code;
mod imports;
mod perfmap;

use std::fs::File;
use std::sync::Arc;

use lucet_module::{
    ContentHash, ExportKind, FuncType, ModuleData, ModuleFile, NameTable, PublicKey, TypeRecord,
};

use crate::sys::cpu;
use crate::sys::mmap::SealedFile;
use crate::sys::private_copy::PrivateCopy;
use crate::{type_registry, Error, Linker};

use self::code::CodeMemory;
pub(crate) use self::imports::{
    check_global, check_host_func, describe_definition, global_type, import_names, limits,
    mismatch, HostImports,
};

/// Where the initial memory image's pages come from: a copy in memory
/// (small images, copied into each heap), or a sealed file of the image
/// alone (mapped copy-on-write).
pub(crate) struct ImageSource {
    /// The image section's own sealed file, for mapped images.
    pub file: Option<SealedFile>,
    /// The image section itself, for small images ([`COPY_IMAGE_LIMIT`]):
    /// copied into each instance's heap instead of mapped.
    pub copy: Option<Box<[u8]>>,
    /// A read-only view of a mapped image (the same pages of the same
    /// sealed file), from which a slot puts back the pages its instances
    /// changed.
    pub view: Option<memmap2::Mmap>,
}

/// What an export of a module is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExportType<'a> {
    /// A function of this type.
    Func(&'a FuncType),
    /// A global.
    Global {
        /// Its value type.
        ty: lucet_module::ValType,
        /// Whether it may be set.
        mutable: bool,
    },
    /// A linear memory.
    Memory,
    /// A table.
    Table,
    /// An exception tag.
    Tag,
}

/// Images up to this size are copied into the heap rather than mapped
/// copy-on-write: copying a few pages costs less than a write fault on
/// each, and a mapped image costs every live instance two more memory
/// mappings (of `vm.max_map_count`). Larger images are mapped, so that
/// instantiation does no work proportional to them, and their pages that
/// no instance changes stay the page cache's, shared.
pub(crate) const COPY_IMAGE_LIMIT: u64 = 16 << 10;

/// A compiled module, loaded and linked, ready to be instantiated any number
/// of times in any region.
pub struct Module {
    /// Process-unique, never reused: slots remember which module's memory
    /// they hold by it.
    id: u64,
    name: String,
    data: ModuleData,
    hash: ContentHash,
    code: CodeMemory,
    /// The trap table section, copied from the file (`None`: no
    /// instruction traps).
    traps: Option<Box<[u8]>>,
    /// The stack map section, copied from the file (what the collector
    /// trusts must not change under it) and checked whole at load.
    stack_maps: Box<[u8]>,
    /// The function name table, copied from the file.
    names: Option<Box<[u8]>>,
    image: ImageSource,
    /// The canonical id of each of the module's types.
    type_ids: Box<[u32]>,
    /// Their records, as generated code reads them (`InstanceHeader::types`).
    type_records: Box<[&'static TypeRecord]>,
    /// The imports, resolved at load when the host defines them all.
    imports: Option<HostImports>,
    /// Otherwise (some come from instances, bound at instantiation): the
    /// host's definitions, kept for then.
    host_definitions: Option<Box<Linker>>,
    /// Code address and signature id of each funcref slot's function.
    funcref_templates: Box<[(usize, &'static TypeRecord)]>,
    /// Funcref slot of each function (`u32::MAX`: cannot be referenced).
    funcref_slot_of: Box<[u32]>,
    /// Whether every active element segment's offset and items are
    /// constants (then a slot can keep a copy of the initial tables).
    constant_elements: bool,
    /// The component's interface, when the module was one.
    component: Option<Arc<lucet_component::ComponentAbi>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("name", &self.name).finish()
    }
}

/// A read-only mapping of the section at `(offset, len)` of `file`, or
/// `None` for an empty one.
fn map_section(
    file: &File,
    (offset, len): (u64, u64),
    name: &str,
) -> Result<Option<memmap2::Mmap>, Error> {
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the mapping is read-only and private, of a sealed file that
    // nothing can change or shrink, and only ever read as bytes through
    // bounds-checked tables.
    let m = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len as usize)
            .map(file)
    }
    .map_err(|source| Error::Io {
        path: name.to_string(),
        source,
    })?;
    Ok(Some(m))
}

/// A copy of the section at `(offset, len)` of `bytes`, or `None` for an
/// empty one (the file's parser checked that it lies in the file).
fn section(bytes: &[u8], (offset, len): (u64, u64)) -> Option<Box<[u8]>> {
    (len > 0).then(|| bytes[offset as usize..(offset + len) as usize].into())
}

impl Module {
    /// Loads a compiled module from `copy`, the private copy of a file
    /// (named `name` in errors),
    /// refusing it unless it is signed by `key` when one is given, and
    /// resolves its imports against `linker`. The call table is filled with
    /// the addresses `symbols` gives for the runtime's symbols the code
    /// calls (the builtins, which the running layer provides).
    pub(crate) fn from_copy(
        copy: PrivateCopy,
        name: String,
        linker: &Linker,
        key: Option<&PublicKey>,
        symbols: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Arc<Module>, Error> {
        let bytes = copy.bytes();
        let parsed = ModuleFile::parse(bytes)?;
        if let Some(key) = key {
            lucet_module::verify_seal(&parsed.seal, key)?;
        }
        let hash = parsed.seal.hash;
        let data = parsed.data;
        if data.arch != cpu::ARCH {
            return Err(Error::InvalidModule(format!(
                "compiled for {}, but this machine is {}: recompile it with lucetc --target {}",
                data.arch,
                cpu::ARCH,
                cpu::ARCH.triple()
            )));
        }
        for f in &data.cpu_features {
            if !cpu::has(f) {
                return Err(Error::InvalidModule(format!(
                    "compiled for a CPU with {f}, which this machine lacks; recompile the module here"
                )));
            }
        }
        let call_table = data
            .call_table
            .iter()
            .map(|symbol| {
                symbols(symbol).map(|a| a as u64).ok_or_else(|| {
                    Error::InvalidModule(format!(
                        "the code calls {:?}, which this runtime does not provide",
                        lucet_module::GuestName(symbol)
                    ))
                })
            })
            .collect::<Result<Vec<u64>, Error>>()?;
        // The tables are copied out of the file's copy, which goes once
        // the code is taken from it. A damaged trap table can only give a
        // wrong trap code, a damaged name table a wrong name (both bound
        // every read).
        let traps = section(bytes, parsed.traps_at);
        let names = section(bytes, parsed.names_at);
        let stack_maps = section(bytes, parsed.stack_maps_at).unwrap_or_default();
        let text_offset = parsed.text_offset;
        let text_len = parsed.text.len();
        for site in lucet_module::StackMapTable::new(&stack_maps)?.iter() {
            let (ret, _) = site?;
            if u64::from(ret) > text_len as u64 {
                return Err(Error::Metadata(lucet_module::Error::InvalidFile(
                    "a stack map is outside the code".into(),
                )));
            }
        }

        let image_bytes = {
            let start = parsed.heap_image_offset as usize;
            &bytes[start..start + parsed.heap_image_len as usize]
        };
        // Small images are copied into each instance's heap; larger ones
        // are mapped copy-on-write from a sealed file of their own.
        let (file, image_copy) = if data.image.stored_bytes() <= COPY_IMAGE_LIMIT {
            (None, Some(image_bytes.to_vec().into_boxed_slice()))
        } else {
            let file = SealedFile::with_bytes("lucet-heap-image", image_bytes)?;
            (Some(file), None)
        };
        let view = match &file {
            Some(file) => map_section(file.file(), (0, image_bytes.len() as u64), &name)?,
            None => None,
        };
        let image = ImageSource {
            file,
            copy: image_copy,
            view,
        };
        let code = CodeMemory::adopt(copy, text_offset, text_len, &call_table)?;
        let name_table = names
            .as_deref()
            .and_then(|b| NameTable::new(b).ok())
            .unwrap_or_default();
        perfmap::record(&name, &data, &name_table, code.base());

        let type_ids = type_registry::intern_module_types(&data.types, &data.rec_groups);
        let type_records: Box<[&'static TypeRecord]> = type_ids
            .iter()
            .map(|&id| type_registry::record(id))
            .collect();
        let component = data.component.clone().map(Arc::new);
        let (imports, host_definitions) = if imports::imports_instances(&data, linker)? {
            (None, Some(Box::new(linker.clone())))
        } else {
            let resolved = imports::resolve_host(&data, component.as_ref(), &type_ids, linker)?;
            (Some(resolved), None)
        };
        let funcref_templates = data
            .funcref_slots
            .iter()
            .map(|&f| {
                let func = &data.functions[f as usize];
                (
                    code.base() + func.code.offset as usize,
                    type_records[func.type_index as usize],
                )
            })
            .collect();
        let mut funcref_slot_of = vec![u32::MAX; data.functions.len()].into_boxed_slice();
        for (slot, &f) in data.funcref_slots.iter().enumerate() {
            funcref_slot_of[f as usize] = slot as u32;
        }
        // Expressions whose value is the same in every instance of the
        // module in a slot (no imported value, no new object).
        let constant = |e: &lucet_module::ConstExpr| {
            !e.allocates()
                && !e
                    .0
                    .iter()
                    .any(|op| matches!(op, lucet_module::ConstOp::GlobalGet(_)))
        };
        let constant_tables = data
            .tables
            .iter()
            .all(|t| t.init.as_ref().map_or(true, constant));
        let constant_elements = constant_tables
            && data.elements.iter().all(|seg| {
                let offset_ok = match &seg.kind {
                    lucet_module::ElemSegmentKind::Active { offset, .. } => constant(offset),
                    _ => true,
                };
                let items_ok = match &seg.items {
                    lucet_module::ElemItems::Functions(_) => true,
                    lucet_module::ElemItems::Exprs(es) => es.iter().all(constant),
                };
                offset_ok && items_ok
            });
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Arc::new(Module {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name,
            data,
            hash,
            code,
            traps,
            stack_maps,
            names,
            image,
            type_ids,
            type_records,
            imports,
            host_definitions,
            funcref_templates,
            funcref_slot_of,
            constant_elements,
            component,
        }))
    }

    /// The module's process-unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// An error unless the code counts instructions (and so can be given
    /// fuel).
    pub(crate) fn check_counts_instructions(&self) -> Result<(), Error> {
        if self.metadata().counts_instructions {
            Ok(())
        } else {
            Err(Error::FuelUnsupported(self.name.clone()))
        }
    }

    /// The module's name: its file path, or the name given to `from_bytes`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The content hash the file was sealed with (and checked against).
    pub fn content_hash(&self) -> ContentHash {
        self.hash
    }

    /// The module's metadata.
    /// When the module was compiled from a component: the component's
    /// imports and exports, with their component-level types.
    pub fn component(&self) -> Option<&Arc<lucet_component::ComponentAbi>> {
        self.component.as_ref()
    }

    pub(crate) fn metadata(&self) -> &ModuleData {
        &self.data
    }

    /// The module's exports, in order, with what each is.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExportType<'_>)> {
        self.data.exports.iter().map(|e| {
            let ty = match e.kind {
                ExportKind::Func(i) => ExportType::Func(
                    self.data
                        .func_type(i)
                        .expect("loading checked that exported functions have types"),
                ),
                ExportKind::Global(i) => {
                    let g = &self.data.globals[i as usize];
                    ExportType::Global {
                        ty: g.ty,
                        mutable: g.mutable,
                    }
                }
                ExportKind::Memory(_) => ExportType::Memory,
                ExportKind::Table(_) => ExportType::Table,
                ExportKind::Tag(_) => ExportType::Tag,
            };
            (e.name.as_str(), ty)
        })
    }

    /// The module's imports, in order, as `(module, name)`.
    pub fn imports(&self) -> impl Iterator<Item = (&str, &str)> {
        imports::import_names(&self.data).map(|(i, _)| (i.module.as_str(), i.name.as_str()))
    }

    /// Whether the code counts instructions (`lucetc
    /// --count-instructions`), so that instances can be given fuel.
    pub fn counts_instructions(&self) -> bool {
        self.data.counts_instructions
    }

    /// Whether the code checks for interruption at loop headers and at
    /// the entry of functions that can recur, so that a kill switch stops,
    /// and a preemption pauses, a run that calls nothing of the host's.
    pub fn is_interruptible(&self) -> bool {
        self.data.interruptible
    }

    /// Whether the module defines struct or array types, whose objects live
    /// in an instance's GC heap.
    pub fn defines_gc_objects(&self) -> bool {
        self.data
            .types
            .iter()
            .any(|t| t.as_struct().is_some() || t.as_array().is_some())
    }

    /// The address space the code of memory 0 was compiled to expect (its
    /// reservation and guard), if the module has a memory.
    pub(crate) fn heap_address_space(&self) -> Option<u64> {
        self.data
            .memories
            .first()
            .map(|m| m.heap.reserved_size + m.heap.guard_size)
    }

    /// The signature of the exported function `name`.
    pub fn export_func_type(&self, name: &str) -> Option<&FuncType> {
        match self.data.export(name)?.kind {
            lucet_module::ExportKind::Func(i) => self.data.func_type(i),
            _ => None,
        }
    }

    /// The trap of the instruction at `text_offset`, if it may trap.
    pub(crate) fn trap_at(&self, text_offset: u32) -> Option<lucet_module::TrapCode> {
        let bytes = self.traps.as_deref()?;
        lucet_module::TrapTable::new(bytes)
            .ok()?
            .lookup(text_offset)
    }

    /// Where the frame of the call returning to `text_offset` keeps its
    /// live GC references, if it has any (`Err`: a damaged table).
    pub(crate) fn stack_map_at(
        &self,
        text_offset: u32,
    ) -> Result<Option<lucet_module::StackMap<'_>>, Error> {
        Ok(lucet_module::StackMapTable::new(&self.stack_maps)?.lookup(text_offset)?)
    }

    /// The name to show for function `index`: its export name, its name in
    /// the module's name section, its import name or `func[N]`, escaped for
    /// printing.
    pub fn function_name(&self, index: u32) -> String {
        let names = self
            .names
            .as_deref()
            .and_then(|bytes| NameTable::new(bytes).ok())
            .unwrap_or_default();
        self.data.display_name(index, &names)
    }

    pub(crate) fn code(&self) -> &CodeMemory {
        &self.code
    }

    pub(crate) fn image(&self) -> &ImageSource {
        &self.image
    }

    pub(crate) fn type_ids(&self) -> &[u32] {
        &self.type_ids
    }

    /// The records of the module's types, by type index.
    pub(crate) fn type_records(&self) -> &[&'static TypeRecord] {
        &self.type_records
    }

    pub(crate) fn funcref_templates(&self) -> &[(usize, &'static TypeRecord)] {
        &self.funcref_templates
    }

    /// The funcref slot of function `f` (O(1)).
    pub(crate) fn funcref_slot(&self, f: u32) -> Option<u32> {
        self.funcref_slot_of
            .get(f as usize)
            .copied()
            .filter(|s| *s != u32::MAX)
    }

    pub(crate) fn constant_elements(&self) -> bool {
        self.constant_elements
    }

    /// The imports, if resolved at load (`None`: each instance binds its
    /// own, see `host_definitions`).
    pub(crate) fn resolved_imports(&self) -> Option<&HostImports> {
        self.imports.as_ref()
    }

    /// For a module that imports from instances: the host's definitions,
    /// for the imports that do not.
    pub(crate) fn host_definitions(&self) -> Option<&Linker> {
        self.host_definitions.as_deref()
    }

    /// Address of function `index`'s array-call entry point.
    pub(crate) fn trampoline_address(&self, index: u32) -> Option<usize> {
        self.data
            .trampoline(index)
            .map(|t| self.code.base() + t.code.offset as usize)
    }
}
