//! The host-side storage of an instance, kept by its slot between
//! instances: reused, not reallocated, and — when the next instance is of
//! the same module — mostly still valid.

use lucet_module::{FuncImport, FuncRef, MemoryDef, TableDef, TypeRecord, ValRaw};

use super::exceptions::ExceptionHeap;
use super::memories::{ExtraMemory, MemoryRef};
use super::{Table, TableRef};

/// Everything an instance keeps in host memory.
#[derive(Default)]
pub(crate) struct InstanceBuffers {
    /// The array-call buffer of the current run.
    pub values: Vec<ValRaw>,
    pub func_imports: Vec<FuncImport>,
    /// The type of each imported function that another instance exports:
    /// its exporter's (which may be a declared subtype of the import's);
    /// `None` for a host function.
    pub func_import_types: Vec<Option<&'static TypeRecord>>,
    pub funcrefs: Vec<FuncRef>,
    /// Defined tables.
    pub tables: Vec<Table>,
    /// Every table of the index space (imports first).
    pub table_refs: Vec<TableRef>,
    pub table_ptrs: Vec<*mut TableDef>,
    /// Every memory of the index space (imports first): where it is, and
    /// the definitions the header's array points to.
    pub memory_refs: Vec<MemoryRef>,
    pub memory_defs: Vec<*mut MemoryDef>,
    /// Defined memories other than memory 0.
    pub extra_memories: Vec<ExtraMemory>,
    /// The identity of each tag, by tag index (the header points here).
    pub tag_ids: Vec<u64>,
    /// The exceptions the instance threw.
    pub exceptions: ExceptionHeap,
    pub dropped_data: Vec<bool>,
    pub dropped_elems: Vec<bool>,
    /// The items of each element segment whose expressions create objects,
    /// evaluated at instantiation (`None` for the other segments).
    pub evaluated_elems: Vec<Option<Box<[u64]>>>,
    /// The module `func_imports` and `funcrefs` were built for in this slot
    /// (they depend only on the module and the slot's `vmctx`); 0: none.
    pub functions_for: u64,
    /// The defined tables' contents right after instantiation, for modules
    /// whose element segments are constant.
    pub table_snapshot: Vec<Vec<u64>>,
    /// The module `table_snapshot` is for; 0: none.
    pub snapshot_for: u64,
    /// The state of each heap page (scratch space of the heap reset).
    pub pages: Vec<u8>,
}

// SAFETY: the raw pointers point into the buffers themselves (table
// definitions) or into instances of the same slot; they travel with the
// buffers between the slot and the instance that holds it.
unsafe impl Send for InstanceBuffers {}

/// The buffers of an instance's slot, lent to the instance for its life:
/// they stay where the slot keeps them (nothing is copied when an instance
/// comes or goes).
#[derive(Clone, Copy)]
pub(crate) struct SlotBuffers(std::ptr::NonNull<InstanceBuffers>);

impl SlotBuffers {
    /// Where the buffers are.
    pub(crate) fn ptr(self) -> *mut InstanceBuffers {
        self.0.as_ptr()
    }

    /// Borrows the buffers at `buffers`.
    ///
    /// # Safety
    /// `buffers` must be the buffers of a slot that the caller now holds;
    /// they must outlive the borrow (the instance keeps its region alive).
    pub(crate) unsafe fn borrow(buffers: *mut InstanceBuffers) -> SlotBuffers {
        SlotBuffers(std::ptr::NonNull::new(buffers).expect("a slot's buffers"))
    }
}

impl std::ops::Deref for SlotBuffers {
    type Target = InstanceBuffers;
    fn deref(&self) -> &InstanceBuffers {
        // SAFETY: the slot's holder (the one instance with this borrow) is
        // the only user of the slot's buffers while it lives.
        unsafe { self.0.as_ref() }
    }
}

impl std::ops::DerefMut for SlotBuffers {
    fn deref_mut(&mut self) -> &mut InstanceBuffers {
        // SAFETY: as for `deref`, exclusively through `&mut self`.
        unsafe { self.0.as_mut() }
    }
}

// SAFETY: the buffers travel with the slot's holder, which is used by one
// thread at a time (see `InstanceBuffers`).
unsafe impl Send for SlotBuffers {}
