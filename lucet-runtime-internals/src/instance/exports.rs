//! What other modules see of an instance's exports when they link against
//! it: function entry points, global storage, the memory and tables.

use lucet_module::{FuncType, HeapSpec, RefType, ValRaw, ValType, WASM_PAGE_SIZE};

use super::Instance;
use crate::type_registry::canonical_ref;

/// What an importer needs to know of an exported memory.
pub(crate) struct MemoryExport {
    /// The instance that defines it, and its index there.
    pub owner: *mut Instance,
    pub index: u32,
    /// Its current size.
    pub pages: u64,
    /// Its layout and declared limits.
    pub heap: HeapSpec,
    pub memory64: bool,
}

/// What an importer needs of an exported function.
pub(crate) struct FuncEntry {
    /// Array-call entry.
    pub code: usize,
    pub vmctx: *mut u8,
    pub ty: FuncType,
    /// Its canonical type id.
    pub id: u32,
    /// Its type's record (what its funcref carries).
    pub record: &'static lucet_module::TypeRecord,
    /// Native entry.
    pub native: usize,
}

impl Instance {
    /// Array-call entry, vmctx, type, type id and native entry of function
    /// `index`.
    pub(crate) fn func_entry(&self, index: u32) -> Option<FuncEntry> {
        let code = self.module.trampoline_address(index)?;
        let data = self.module.metadata();
        let f = data.functions.get(index as usize)?;
        let ty = data.signature(f.type_index)?.clone();
        let native = self.module.code().base() + f.code.offset as usize;
        Some(FuncEntry {
            code,
            vmctx: self.vmctx(),
            ty,
            id: self.module.type_ids()[f.type_index as usize],
            record: self.module.type_records()[f.type_index as usize],
            native,
        })
    }

    /// Identity, type and type id of tag `index`.
    pub(crate) fn tag_export(&self, index: u32) -> (u64, FuncType, u32) {
        let data = self.module.metadata();
        let type_index = data.tags[index as usize].type_index;
        (
            self.buf.tag_ids[index as usize],
            data.signature(type_index)
                .expect("loading checked that tags have function types")
                .clone(),
            self.module.type_ids()[type_index as usize],
        )
    }

    /// Type, mutability and storage of global `index`.
    pub(crate) fn global_export(&self, index: u32) -> (ValType, bool, *mut ValRaw) {
        let spec = &self.module.metadata().globals[index as usize];
        (spec.ty, spec.mutable, self.global_storage(index))
    }

    /// The instance that defines memory `index` of `inst`, and its index
    /// there.
    ///
    /// # Safety
    /// `inst` must be live.
    pub(crate) unsafe fn memory_export(inst: *mut Instance, index: u32) -> MemoryExport {
        // SAFETY: the caller guarantees `inst` is live; a memory's owner
        // lives as long as the instances that import it.
        unsafe {
            let r = (*inst).memory_ref(index);
            let owner = &*r.owner;
            let spec = &owner.module.metadata().memories[r.index as usize];
            MemoryExport {
                owner: r.owner,
                index: r.index,
                pages: owner.memory_len_at(r.index) / WASM_PAGE_SIZE,
                heap: spec.heap,
                memory64: spec.memory64,
            }
        }
    }

    /// Owner, owner's table index, element type (canonical), size,
    /// declared maximum and index type of table `index` of `inst`.
    ///
    /// # Safety
    /// `inst` must be live.
    pub(crate) unsafe fn table_export(
        inst: *mut Instance,
        index: u32,
    ) -> (*mut Instance, usize, RefType, u32, Option<u64>, bool) {
        // SAFETY: the caller guarantees `inst` is live; a table's owner lives
        // as long as the instances that import it.
        unsafe {
            let r = Instance::bufs(inst).table_refs[index as usize];
            let t = &Instance::bufs(r.owner).tables[r.index];
            (
                r.owner,
                r.index,
                canonical_ref(t.ty, (*r.owner).module.type_ids()),
                t.elements.len() as u32,
                t.declared_max,
                t.table64,
            )
        }
    }
}
