//! What other modules see of an instance's exports when they link against
//! it: function entry points, global storage, the memory and tables.

use lucet_module::{FuncType, HeapSpec, RefType, ValRaw, ValType, WASM_PAGE_SIZE};

use super::Instance;

impl Instance {
    /// Array-call entry, vmctx and type of function `index`.
    pub(crate) fn func_entry(&self, index: u32) -> Option<(usize, *mut u8, FuncType)> {
        let code = self.module.trampoline_address(index)?;
        let ty = self.module.metadata().func_type(index)?.clone();
        Some((code, self.vmctx(), ty))
    }

    /// Type, mutability and storage of global `index`.
    pub(crate) fn global_export(&self, index: u32) -> (ValType, bool, *mut ValRaw) {
        let spec = &self.module.metadata().globals[index as usize];
        (spec.ty, spec.mutable, self.global_storage(index))
    }

    /// The instance that owns `inst`'s memory.
    ///
    /// # Safety
    /// `inst` must be live.
    pub(crate) unsafe fn memory_owner_of(inst: *mut Instance) -> *mut Instance {
        // SAFETY: the caller guarantees `inst` is live.
        unsafe { (*inst).memory_owner.unwrap_or(inst) }
    }

    /// Current pages, declared maximum and heap layout of this instance's
    /// own memory.
    pub(crate) fn memory_export(&self) -> (u64, Option<u64>, HeapSpec) {
        let spec = self
            .module
            .metadata()
            .memory
            .as_ref()
            .map(|m| m.heap)
            .unwrap_or(HeapSpec {
                reserved_size: 0,
                guard_size: 0,
                initial_pages: 0,
                max_pages: Some(0),
            });
        (self.memory_len() / WASM_PAGE_SIZE, spec.max_pages, spec)
    }

    /// Owner, owner's table index, element type, size and declared maximum
    /// of table `index` of `inst`.
    ///
    /// # Safety
    /// `inst` must be live.
    pub(crate) unsafe fn table_export(
        inst: *mut Instance,
        index: u32,
    ) -> (*mut Instance, usize, RefType, u32, Option<u64>) {
        // SAFETY: the caller guarantees `inst` is live; a table's owner lives
        // as long as the instances that import it.
        unsafe {
            let r = (&(*inst).buf.table_refs)[index as usize];
            let t = &(&(*r.owner).buf.tables)[r.index];
            (
                r.owner,
                r.index,
                t.ty,
                t.elements.len() as u32,
                t.declared_max,
            )
        }
    }
}
