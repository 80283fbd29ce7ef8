//! Instances: a module instantiated in a region slot, and the handle that
//! owns it.
//!
//! The `Instance` lives at the start of its slot's instance page; generated
//! code finds it through `InstanceHeader::instance`. Running a function
//! prepares the slot's stack to make an array call into the function's
//! trampoline and switches to it; the run ends when the guest returns,
//! yields, traps (the signal handler records the trap and redirects the
//! thread back to the host context) or is terminated by a host function.
//!
//! Aliasing discipline: while guest code runs, host functions reach the
//! instance through raw pointers from `vmctx`. The functions here therefore
//! work on `*mut Instance` and never hold a `&mut Instance` across a context
//! switch.

mod bind;
mod buffers;
mod collector;
mod compactor;
pub(crate) mod exceptions;
mod exports;
mod group_collector;
mod handle;
mod heap;
mod host_call;
mod host_func;
mod init;
mod interrupt;
mod kill;
mod link;
mod memories;
mod objects;
mod ops;
mod region;
mod result;
mod run;
mod traps;
mod vmctx;

use std::any::Any;
use std::cell::Cell;
use std::ptr;
use std::sync::Arc;

use lucet_module::{InstanceHeader, TableDef, TrapCode};

use self::region::Slot;
use crate::host_roots::HostRoots;
use crate::module::Module;
use crate::sys::context::Context;
use crate::{EmbedCtx, TerminationDetails, Val};

use self::bind::{Imports, InstanceImports};
pub(crate) use buffers::{InstanceBuffers, SlotBuffers};
pub use handle::InstanceHandle;
pub use host_call::Preempted;
pub(crate) use host_call::{answer_interrupt, call_host, guarded};
pub use host_func::IntoHostFunc;
pub(crate) use init::{check_fits, instantiate};
pub use interrupt::{Interrupt, Wait};
pub(crate) use kill::KillState;
pub use kill::{KillError, KillSuccess, KillSwitch};
pub(crate) use link::{bind_imports, LinkGroup};
pub use region::{InstanceBuilder, MmapRegion, MAPPINGS_PER_SLOT};
pub use result::{RunResult, YieldedVal};
pub(crate) use traps::{classify_fault, trap_entry};
pub use vmctx::{Caller, Vmctx};

thread_local! {
    /// The instance whose guest code this thread is running, if any.
    static CURRENT_INSTANCE: Cell<*mut Instance> = const { Cell::new(ptr::null_mut()) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Can run.
    Ready,
    /// Guest code (or a host function it called) is on the CPU.
    Running,
    /// Suspended in a host function's yield.
    Yielded,
}

/// A trap as the signal handler records it (no allocation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrapRecord {
    code: TrapCode,
    /// The module whose code trapped (the running instance's, or a linked
    /// instance's).
    module: *const Module,
    func_index: Option<u32>,
    offset: u32,
}

/// Why the guest left the CPU, other than returning.
pub(crate) enum Exit {
    Yield(Option<Box<dyn Any + Send>>),
    Trap(TrapRecord),
    Terminated(TerminationDetails),
    /// An exception no guest frame caught (the object's address).
    Exception(usize),
}

/// Where table `i` of an instance lives: in `owner.tables[index]`, the
/// instance itself for defined tables, the exporter for imported ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableRef {
    pub owner: *mut Instance,
    pub index: usize,
}

/// A table's storage.
pub(crate) struct Table {
    pub def: Box<TableDef>,
    pub elements: Vec<u64>,
    /// Most elements it may grow to.
    pub max: u32,
    /// Element type.
    pub ty: lucet_module::RefType,
    /// The maximum the module declared.
    pub declared_max: Option<u64>,
    /// Whether its indices are 64 bits.
    pub table64: bool,
}

/// An instance of a module in a slot.
pub struct Instance {
    module: Arc<Module>,
    region: Arc<MmapRegion>,
    slot: Slot,
    /// Most bytes of linear memory this instance may have.
    heap_limit: u64,
    /// Bytes of the heap made accessible since instantiation.
    heap_mapped: u64,
    state: State,
    exit: Option<Exit>,
    host_ctx: Context,
    guest_ctx: Context,
    running_func: u32,
    /// Host-side storage, borrowed from the slot while the instance lives.
    buf: SlotBuffers,
    /// The lowest stack pointer guest code may use on this slot's stack.
    stack_limit: usize,
    /// The link group, if this instance is linked to others.
    group: Option<Arc<LinkGroup>>,
    /// Its imports, when they were bound at instantiation (the module
    /// imports from other instances); otherwise the module's.
    bound_imports: Option<Box<Imports>>,
    /// The slot's kill state, shared with the kill switches of its runs.
    kill: Arc<KillState>,
    embed_ctx: EmbedCtx,
    resume_val: Option<Box<dyn Any + Send>>,
    unwind_requested: bool,
    /// Yielded by a preemption, at a point with no exit record: its frames
    /// cannot be walked by a collection.
    preempted: bool,
    /// Whether the instance has a fuel limit.
    fuel_limited: bool,
    /// The fuel the instance was built with (and gets back on reset).
    build_fuel: Option<u64>,
    /// Whether the start function has run.
    start: StartState,
    /// The host's handles into the GC heap, which the collector updates,
    /// and the epoch of the heap's contents (see `objects`): handles carry
    /// it and are refused once it has changed.
    host_roots: HostRoots,
    /// Collections of the GC heap since instantiation.
    gc_collections: u64,
}

/// Where an instance is with its start function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartState {
    /// It ran (or the module has none).
    Done,
    /// Instantiation deferred it to `run_start`.
    Pending,
    /// `run_start` ran it and it failed: instantiation failed.
    Failed,
}

impl Instance {
    /// Charges `units` of fuel for work the runtime did for the guest (its
    /// collections); if that was the rest of it, the guest runs out of fuel
    /// at its next check. Nothing for an instance without a fuel limit.
    pub(crate) fn charge_fuel(&mut self, units: u64) {
        if !self.fuel_limited {
            return;
        }
        let header = self.header();
        let units = i64::try_from(units).unwrap_or(i64::MAX);
        // SAFETY: the header is valid for the instance's life; the guest
        // is suspended in the call that does the work.
        unsafe { (*header).fuel = (*header).fuel.saturating_add(units) };
    }
}

/// The header's fuel word of an instance without a fuel limit: more
/// instructions than a run can execute before the process ends.
pub(crate) const UNLIMITED_FUEL: i64 = i64::MIN;

/// The header's fuel word for `fuel` units left.
pub(crate) fn fuel_word(fuel: u64) -> i64 {
    -(fuel.min(i64::MAX as u64) as i64)
}

const _: () = assert!(
    std::mem::size_of::<Instance>() + InstanceHeader::SIZE as usize <= 4096,
    "the instance and its header must fit in the instance page"
);

/// The instance that owns `vmctx`.
///
/// # Safety
/// `vmctx` must be the vmctx of a live instance (as generated code passes to
/// builtins and host functions).
#[inline]
pub(crate) unsafe fn instance_from_vmctx(vmctx: *mut u8) -> *mut Instance {
    // SAFETY: the header sits directly below vmctx in the instance page.
    unsafe {
        let header = vmctx.sub(InstanceHeader::SIZE as usize) as *const InstanceHeader;
        debug_assert_eq!((*header).magic, InstanceHeader::MAGIC);
        (*header).instance as *mut Instance
    }
}

impl Instance {
    /// The buffers of the instance at `inst`, for code that reaches
    /// instances through raw pointers.
    ///
    /// # Safety
    /// `inst` must be live, and nothing else may refer to its buffers while
    /// the reference is used.
    pub(crate) unsafe fn bufs<'a>(inst: *mut Instance) -> &'a mut InstanceBuffers {
        // SAFETY: as the caller guarantees; the buffers live in the slot.
        unsafe { &mut *(*inst).buf.ptr() }
    }

    fn header(&self) -> *mut InstanceHeader {
        self.slot.heap().wrapping_sub(InstanceHeader::SIZE as usize) as *mut InstanceHeader
    }

    fn vmctx(&self) -> *mut u8 {
        self.slot.heap()
    }

    /// The accessible bytes of memory 0.
    pub(crate) fn memory(&self) -> &[u8] {
        self.memory_at(0)
    }

    /// The accessible bytes of memory 0, mutably.
    pub(crate) fn memory_mut(&mut self) -> &mut [u8] {
        self.memory_at_mut(0)
    }

    /// Whether `v`, from the host, may be passed to this instance's code as
    /// a value of type `ty` (of this instance's module). A non-null
    /// function reference must be a record of this instance or of one it
    /// is linked with, of the right type; exception references come only
    /// from guest code; a GC object must be of this instance's heap as it
    /// is now (not from before a reset), of the right type.
    pub(crate) fn accepts(&self, v: &Val, ty: lucet_module::ValType) -> bool {
        if !v.fits(ty) {
            return false;
        }
        match *v {
            Val::FuncRef(0) | Val::ExnRef(0) => true,
            Val::FuncRef(p) => {
                let Some(actual) = self.funcref_type(p) else {
                    return false;
                };
                match ty.concrete_index() {
                    Some(i) => crate::type_registry::record_subtype(
                        actual,
                        self.module.type_records()[i as usize],
                    ),
                    None => true,
                }
            }
            Val::ExnRef(p) => self.knows_exception(p),
            _ => match v.object() {
                Some(o) => {
                    o.epoch() == self.host_roots.epoch()
                        && match ty.concrete_index() {
                            Some(i) => crate::type_registry::record_subtype(
                                o.type_record(),
                                self.module.type_records()[i as usize],
                            ),
                            None => true,
                        }
                }
                None => true,
            },
        }
    }

    /// The index (in this instance's module) of the function the funcref
    /// record at address `p` describes, if `p` is one of this instance's
    /// records.
    fn funcref_function(&self, p: u64) -> Option<u32> {
        let start = self.buf.funcrefs.as_ptr() as u64;
        let size = lucet_module::FuncRef::SIZE as u64;
        let offset = p.checked_sub(start)?;
        let slot = (offset % size == 0).then_some(offset / size)?;
        self.module
            .metadata()
            .funcref_slots
            .get(usize::try_from(slot).ok()?)
            .copied()
    }

    /// The type of the funcref record at address `p`, if `p` is one of
    /// this instance's records (or a linked instance's).
    fn funcref_type(&self, p: u64) -> Option<&'static lucet_module::TypeRecord> {
        let find = |records: &[lucet_module::FuncRef]| {
            let start = records.as_ptr() as u64;
            let size = lucet_module::FuncRef::SIZE as u64;
            let offset = p.checked_sub(start)?;
            let i = (offset % size == 0).then_some(offset / size)?;
            // SAFETY: every record's `ty` is a registered type record,
            // which lives forever.
            records.get(i as usize).map(|r| unsafe { &*r.ty })
        };
        if let Some(id) = find(&self.buf.funcrefs) {
            return Some(id);
        }
        let group = self.group.as_ref()?;
        // SAFETY: the group's members live as long as the group, and run on
        // this thread, which is here.
        unsafe {
            group
                .members()
                .iter()
                .find_map(|m| find(&Instance::bufs(*m).funcrefs))
        }
    }

    /// Ends the current run for its kill switches. Returns whether it was
    /// killed.
    fn end_run(&mut self) -> bool {
        self.kill.end_run()
    }

    pub(crate) fn embed_ctx(&self) -> &EmbedCtx {
        &self.embed_ctx
    }

    pub(crate) fn embed_ctx_mut(&mut self) -> &mut EmbedCtx {
        &mut self.embed_ctx
    }

    pub(crate) fn module(&self) -> &Arc<Module> {
        &self.module
    }

    /// The instance's module, for code that changes the instance's other
    /// fields while reading it (without the reference counting of a
    /// clone).
    /// The resolved imports: the instance's own, or its module's.
    fn imports<'a>(&self) -> InstanceImports<'a> {
        match self.bound_imports.as_deref().map(|i| i as *const Imports) {
            // SAFETY: the instance keeps its bound imports for its whole
            // life and never replaces them; as for `module_ref`.
            Some(i) => InstanceImports::Bound(unsafe { &*i }),
            None => InstanceImports::Host(
                self.module_ref()
                    .resolved_imports()
                    .expect("a module without bound imports resolved them at load"),
            ),
        }
    }

    fn module_ref<'a>(&self) -> &'a Module {
        // SAFETY: the instance holds its `Arc<Module>` for its whole life and
        // never replaces it; callers use the reference only while the
        // instance lives.
        unsafe { &*Arc::as_ptr(&self.module) }
    }
}
