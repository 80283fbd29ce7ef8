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

mod buffers;
mod collector;
mod compactor;
pub(crate) mod exceptions;
mod exports;
mod heap;
mod host_roots;
mod init;
mod interrupt;
mod kill;
mod link;
mod memories;
mod objects;
mod ops;

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use lucet_module::{ExportKind, InstanceHeader, TableDef, TrapCode, ValRaw};

use crate::module::{Imports, Module};
use crate::region::{MmapRegion, Slot};
use crate::sys::{context, context::Context, signals};
use crate::{EmbedCtx, Error, Val, Vmctx};

pub(crate) use buffers::{InstanceBuffers, SlotBuffers};
pub(crate) use host_roots::{HostRoots, ObjectRoot};
pub(crate) use init::{check_fits, instantiate};
pub use interrupt::{Interrupt, Wait};
pub(crate) use kill::KillState;
pub use kill::{KillError, KillSuccess, KillSwitch};
pub(crate) use link::{bind_imports, LinkGroup};

thread_local! {
    /// The instance whose guest code this thread is running, if any.
    static CURRENT_INSTANCE: Cell<*mut Instance> = const { Cell::new(ptr::null_mut()) };
}

/// What a run returned.
#[derive(Debug)]
pub enum RunResult {
    /// The function returned these values.
    Returned(Vec<Val>),
    /// A host function yielded; resume the instance to continue.
    Yielded(YieldedVal),
}

impl RunResult {
    /// The returned values, or an error if the instance yielded.
    pub fn returned(self) -> Result<Vec<Val>, Error> {
        match self {
            RunResult::Returned(v) => Ok(v),
            RunResult::Yielded(_) => Err(Error::InvalidState("the instance yielded")),
        }
    }

    /// The yielded value, or an error if the function returned.
    pub fn yielded(self) -> Result<YieldedVal, Error> {
        match self {
            RunResult::Yielded(v) => Ok(v),
            RunResult::Returned(_) => Err(Error::InvalidState("the function returned")),
        }
    }

    /// Whether the instance yielded.
    pub fn is_yielded(&self) -> bool {
        matches!(self, RunResult::Yielded(_))
    }
}

/// The value a host function yielded with.
pub struct YieldedVal(Option<Box<dyn Any + Send>>);

impl fmt::Debug for YieldedVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => write!(f, "YieldedVal(none)"),
            Some(_) => write!(f, "YieldedVal(..)"),
        }
    }
}

impl YieldedVal {
    /// Whether the host function yielded without a value.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.as_ref()?.downcast_ref()
    }

    /// Takes the value, if it is a `T`.
    pub fn downcast<T: Any>(self) -> Result<T, YieldedVal> {
        match self.0 {
            Some(b) => b
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|b| YieldedVal(Some(b))),
            None => Err(YieldedVal(None)),
        }
    }
}

/// Why a host function ended the instance's run.
pub enum TerminationDetails {
    /// The host called `Vmctx::terminate` with this value.
    Provided(Box<dyn Any + Send + Sync>),
    /// A host function (or runtime builtin) panicked with this message.
    HostPanic(String),
    /// A kill switch stopped the run.
    Remote,
}

impl TerminationDetails {
    /// The value given to `Vmctx::terminate`, if it is a `T`.
    pub fn provided<T: Any>(&self) -> Option<&T> {
        match self {
            TerminationDetails::Provided(b) => b.downcast_ref(),
            TerminationDetails::HostPanic(_) | TerminationDetails::Remote => None,
        }
    }
}

impl fmt::Debug for TerminationDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for TerminationDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminationDetails::HostPanic(m) => write!(f, "host function panicked: {m}"),
            TerminationDetails::Remote => write!(f, "stopped by a kill switch"),
            TerminationDetails::Provided(b) => {
                if let Some(s) = b.downcast_ref::<String>() {
                    write!(f, "{s}")
                } else if let Some(s) = b.downcast_ref::<&str>() {
                    write!(f, "{s}")
                } else {
                    write!(f, "the host terminated the instance")
                }
            }
        }
    }
}

/// The panic payload `Vmctx::terminate` unwinds with.
pub(crate) struct TerminationSignal(pub Box<dyn Any + Send + Sync>);

/// The panic payload that unwinds a yielded host function when its instance
/// is reset or dropped.
pub(crate) struct ForcedUnwind;

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
    fn imports<'a>(&self) -> &'a Imports {
        let own = self.bound_imports.as_deref().map(|i| i as *const Imports);
        match own {
            // SAFETY: the instance keeps its bound imports for its whole
            // life and never replaces them; as for `module_ref`.
            Some(i) => unsafe { &*i },
            None => self
                .module_ref()
                .imports()
                .expect("a module without bound imports resolved them at load"),
        }
    }

    fn module_ref<'a>(&self) -> &'a Module {
        // SAFETY: the instance holds its `Arc<Module>` for its whole life and
        // never replaces it; callers use the reference only while the
        // instance lives.
        unsafe { &*Arc::as_ptr(&self.module) }
    }

    /// Switches to the guest context and back, with this instance marked as
    /// the thread's running instance.
    ///
    /// # Safety
    /// `inst` must be live, with `guest_ctx` prepared or saved by a yield,
    /// and this thread must have a signal stack (`ensure_thread_altstack`).
    unsafe fn switch_to_guest(inst: *mut Instance) {
        let previous = CURRENT_INSTANCE.with(|c| c.replace(inst));
        // SAFETY: the caller checked this thread's signal stack
        // (`ensure_thread_altstack`). Linked instances' code may run on this
        // instance's stack, so the group's headers follow the running
        // instance (a plain pointer: no reference count traffic per switch).
        unsafe {
            let group = (*inst).group.as_ref().map(|g| &**g as *const LinkGroup);
            let outer = group.map(|g| (*g).enter(inst));
            (*inst).state = State::Running;
            context::swap(
                ptr::addr_of_mut!((*inst).host_ctx),
                ptr::addr_of!((*inst).guest_ctx),
            );
            if let (Some(g), Some(outer)) = (group, outer) {
                (*g).leave(outer);
            }
        }
        CURRENT_INSTANCE.with(|c| c.set(previous));
    }

    /// Runs function `index` with `args` on a fresh guest stack.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    unsafe fn run_func(inst: *mut Instance, index: u32, args: &[Val]) -> Result<RunResult, Error> {
        // SAFETY: the caller guarantees exclusive access; the references made
        // here end before the context switch.
        unsafe {
            if let Some(g) = &(*inst).group {
                g.check_thread()?;
            }
            signals::ensure_thread_altstack((*inst).region.limits().signal_stack_size as usize)?;
            match (*inst).state {
                State::Ready => {}
                State::Yielded => {
                    return Err(Error::InvalidState(
                        "the instance is yielded: resume or reset it first",
                    ))
                }
                State::Running => {
                    return Err(Error::InvalidState("the instance is already running"))
                }
            }
            let module = &*(*inst).module;
            let data = module.metadata();
            let ty = data
                .func_type(index)
                .ok_or_else(|| Error::ExportNotFound(format!("func[{index}]")))?;
            if args.len() != ty.params.len()
                || args
                    .iter()
                    .zip(&ty.params)
                    .any(|(a, t)| !(*inst).accepts(a, *t))
            {
                return Err(Error::ArgumentMismatch {
                    func: module.function_name(index),
                    expected: ty.clone(),
                    got: args
                        .iter()
                        .map(|a| a.ty().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let entry = module
                .trampoline_address(index)
                .ok_or_else(|| Error::ExportNotFound(module.function_name(index)))?;
            if (*inst).group.is_none() {
                // Clear what a kill of an earlier run left (a linked
                // instance's headers are written as it goes on the CPU).
                kill::set_interrupt_words((*inst).header(), false, (*inst).stack_limit);
            }
            if !(*inst).kill.start() {
                (*inst).end_run();
                return Err(Error::Terminated(TerminationDetails::Remote));
            }
            let values = &mut Instance::bufs(inst).values;
            values.clear();
            values.resize(ty.array_call_len().max(1), ValRaw::default());
            for (v, a) in values.iter_mut().zip(args) {
                *v = a.to_raw();
            }
            (*inst).running_func = index;
            (*inst).exit = None;
            let slot = (*inst).slot;
            let call = context::ArrayCall {
                entry,
                vmctx: slot.heap() as usize,
                data: 0,
                values: Instance::bufs(inst).values.as_mut_ptr() as usize,
                len: Instance::bufs(inst).values.len(),
            };
            context::init_guest_stack(
                &mut (*inst).guest_ctx,
                slot.stack_top(),
                call,
                ptr::addr_of!((*inst).host_ctx),
            );
            Instance::switch_to_guest(inst);
            Instance::finish_run(inst)
        }
    }

    /// Turns the way the guest left the CPU into the run's result.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    unsafe fn finish_run(inst: *mut Instance) -> Result<RunResult, Error> {
        // SAFETY: the guest is off the CPU; we have exclusive access.
        let inst = unsafe { &mut *inst };
        let exit = inst.exit.take();
        let killed = match exit {
            Some(Exit::Yield(_)) => false,
            _ => inst.end_run(),
        };
        match exit {
            None => {
                inst.state = State::Ready;
                let module = inst.module.clone();
                let results: Vec<Val> = module
                    .metadata()
                    .func_type(inst.running_func)
                    .map(|ty| {
                        ty.results
                            .iter()
                            .zip(&inst.buf.values)
                            // SAFETY: the guest wrote its results.
                            .map(|(t, raw)| unsafe { Val::from_guest(raw, *t, &inst.host_roots) })
                            .collect()
                    })
                    .unwrap_or_default();
                for v in &results {
                    inst.pin(v);
                }
                Ok(RunResult::Returned(results))
            }
            Some(Exit::Yield(v)) => {
                inst.state = State::Yielded;
                Ok(RunResult::Yielded(YieldedVal(v)))
            }
            // A killed run stops at a loop header (through the `Interrupted`
            // builtin, as `Terminated`) or at a function entry, whose stack
            // check fails on the poisoned limit.
            Some(Exit::Trap(t)) if killed && t.code == TrapCode::StackOverflow => {
                inst.state = State::Ready;
                Err(Error::Terminated(TerminationDetails::Remote))
            }
            Some(Exit::Trap(t)) => {
                inst.state = State::Ready;
                let function = match t.func_index {
                    // SAFETY: the trapping module belongs to this instance or
                    // to its link group, which is alive.
                    Some(i) => unsafe { (*t.module).function_name(i) },
                    None => "<entry trampoline>".to_string(),
                };
                Err(Error::Trap {
                    code: t.code,
                    function,
                    offset: t.offset,
                })
            }
            Some(Exit::Terminated(d)) => {
                inst.state = State::Ready;
                Err(Error::Terminated(d))
            }
            Some(Exit::Exception(exn)) => {
                inst.state = State::Ready;
                Err(Error::UncaughtException(inst.exception_info(exn)))
            }
        }
    }

    /// Continues a yielded instance.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    unsafe fn resume(
        inst: *mut Instance,
        val: Option<Box<dyn Any + Send>>,
    ) -> Result<RunResult, Error> {
        // SAFETY: exclusive access; no reference is held across the switch.
        unsafe {
            if let Some(g) = &(*inst).group {
                g.check_thread()?;
            }
            if (*inst).state != State::Yielded {
                return Err(Error::InvalidState("the instance is not yielded"));
            }
            signals::ensure_thread_altstack((*inst).region.limits().signal_stack_size as usize)?;
            (*inst).resume_val = val;
            Instance::switch_to_guest(inst);
            Instance::finish_run(inst)
        }
    }

    /// Unwinds the host function a yielded instance is suspended in, so that
    /// its destructors run before the instance is reset or dropped.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    unsafe fn unwind_if_yielded(inst: *mut Instance) {
        // SAFETY: exclusive access; no reference is held across the switch.
        unsafe {
            if (*inst).state != State::Yielded {
                return;
            }
            if signals::ensure_thread_altstack((*inst).region.limits().signal_stack_size as usize)
                .is_err()
            {
                // Without a signal stack the guest cannot be resumed safely;
                // its frames are abandoned (the slot's stack is reused).
                (*inst).state = State::Ready;
                return;
            }
            (*inst).unwind_requested = true;
            Instance::switch_to_guest(inst);
            (*inst).unwind_requested = false;
            (*inst).exit = None;
            (*inst).resume_val = None;
            // If the host function caught the unwind and the guest yielded
            // again, its frames are abandoned: the slot's stack is reused.
            (*inst).state = State::Ready;
        }
    }

    /// The [`Interrupt`] of the run on this thread (`caller`'s if none is
    /// recorded), for a host function called with `caller`'s vmctx.
    pub(crate) fn current_interrupt<'a>(caller: *mut Instance) -> Interrupt<'a> {
        let current = CURRENT_INSTANCE.with(|c| c.get());
        let inst = if current.is_null() { caller } else { current };
        // SAFETY: the running instance (or the caller) lives for the host
        // call, and its kill state for as long as the instance.
        Interrupt::new(unsafe { &*Arc::as_ptr(&(*inst).kill) })
    }

    /// Yields from a host function to the host (called through `Vmctx`):
    /// the run that is suspended is this thread's running instance's, which
    /// may not be the caller's own when linked instances call each other.
    ///
    /// # Safety
    /// Must be called by a host function running on a guest stack.
    pub(crate) unsafe fn yield_from_host(
        val: Option<Box<dyn Any + Send>>,
    ) -> Option<Box<dyn Any + Send>> {
        let inst = CURRENT_INSTANCE.with(|c| c.get());
        assert!(!inst.is_null(), "yield outside of a guest call");
        // SAFETY: we are on the guest stack of the running instance; the host
        // side holds no reference to it while we switch.
        unsafe {
            (*inst).exit = Some(Exit::Yield(val));
            context::swap(
                ptr::addr_of_mut!((*inst).guest_ctx),
                ptr::addr_of!((*inst).host_ctx),
            );
            if (*inst).unwind_requested {
                std::panic::resume_unwind(Box::new(ForcedUnwind));
            }
            (*inst).resume_val.take()
        }
    }
}

/// Ends the current run from a host function or builtin whose panic (or
/// termination request) was caught. Never returns: switches to the host.
///
/// # Safety
/// Must be called on the guest stack of this thread's running instance, with
/// no live frames between here and guest code that need destructors.
unsafe fn terminate_from_host(payload: Box<dyn Any + Send>) -> ! {
    let details = match payload.downcast::<TerminationSignal>() {
        Ok(signal) => TerminationDetails::Provided(signal.0),
        Err(payload) => {
            if payload.is::<Killed>() {
                TerminationDetails::Remote
            } else if payload.is::<ForcedUnwind>() {
                TerminationDetails::HostPanic("unwound by reset or drop".into())
            } else if let Some(s) = payload.downcast_ref::<&str>() {
                TerminationDetails::HostPanic(s.to_string())
            } else if let Some(s) = payload.downcast_ref::<String>() {
                TerminationDetails::HostPanic(s.clone())
            } else {
                TerminationDetails::HostPanic("non-string panic payload".into())
            }
        }
    };
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        // A host function called outside of any run cannot unwind anywhere.
        std::process::abort();
    }
    // SAFETY: the running instance is live; every owned value has been moved
    // into it before we leave this stack for good.
    unsafe {
        (*inst).exit = Some(Exit::Terminated(details));
        context::set(ptr::addr_of!((*inst).host_ctx))
    }
}

/// Calls a host function body with the caller's `Vmctx`; a panic ends the
/// run instead of unwinding into guest frames.
///
/// # Safety
/// `vmctx` must be the vmctx of the running instance that called.
#[inline]
pub(crate) unsafe fn call_host(vmctx: *mut u8, f: impl FnOnce(&mut Vmctx)) {
    let result = {
        // SAFETY: the caller passes the running instance's vmctx.
        let mut ctx = unsafe { Vmctx::from_raw(vmctx) };
        catch_unwind(AssertUnwindSafe(|| f(&mut ctx)))
    };
    if let Err(payload) = result {
        // SAFETY: we are on the guest stack; nothing above us needs dropping.
        unsafe { terminate_from_host(payload) }
    }
    // A kill that landed during the call ends the run now, before any more
    // guest code runs (the guest might otherwise finish as if in time).
    // SAFETY: `vmctx` is the caller's, whose header carries the interrupt
    // state of the run on this CPU; read atomically as kill switches write.
    if unsafe { interrupt_requested(vmctx) } {
        // SAFETY: as above; nothing of the host function is left to drop.
        unsafe { terminate_from_host(Box::new(Killed)) }
    }
}

/// The payload that ends a killed run.
struct Killed;

/// Ends the run of this thread as stopped by its kill switch: the body of
/// the `Interrupted` builtin, which generated code calls at a loop header
/// whose interrupt word is set. Switches to the host; the run returns
/// `Terminated(Remote)`.
///
/// # Safety
/// Must be called by guest code of this thread's running instance, on its
/// stack.
pub(crate) unsafe fn end_killed_run() -> ! {
    // SAFETY: as the caller guarantees; a boxed zero-sized value does not
    // allocate, and nothing on this stack above guest code needs dropping.
    unsafe { terminate_from_host(Box::new(Killed)) }
}

/// Whether the interrupt word of the header below `vmctx` is set.
///
/// # Safety
/// `vmctx` must be a live instance's.
#[inline]
unsafe fn interrupt_requested(vmctx: *mut u8) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    // SAFETY: the header sits right below vmctx; its `interrupt` field has
    // the layout of an AtomicU64 and is written atomically by kill switches.
    unsafe {
        let header = vmctx.sub(InstanceHeader::SIZE as usize) as *const InstanceHeader;
        (*(ptr::addr_of!((*header).interrupt) as *const AtomicU64)).load(Ordering::Relaxed) != 0
    }
}

/// Runs a builtin's body; a panic ends the run instead of unwinding into
/// guest frames.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        // SAFETY: builtins are called by guest code on the guest stack.
        Err(payload) => unsafe { terminate_from_host(payload) },
    }
}

/// The signal handler's classifier: if this thread is running guest code and
/// `pc` lies in it, records the trap and returns the host context to switch
/// to. Async-signal-safe: reads and one `ptr::write`, no allocation.
///
/// # Safety
/// Called only from the signal handler.
pub(crate) unsafe fn classify_fault(signum: libc::c_int, pc: usize) -> Option<usize> {
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        return None;
    }
    // SAFETY: CURRENT_INSTANCE is set only while the instance runs on this
    // thread, so it is live; the interrupted code holds no references to the
    // fields written here (`exit` is `None` during a run).
    unsafe {
        if (*inst).state != State::Running {
            return None;
        }
        let module = code_owner(inst, pc)?;
        let text_offset = (pc - module.code().base()) as u32;
        let record = match module.metadata().function_at(text_offset) {
            Some((index, f)) => {
                let offset = text_offset - f.code.offset;
                TrapRecord {
                    code: module.trap_at(text_offset).unwrap_or(TrapCode::Unknown),
                    module,
                    func_index: Some(index),
                    offset,
                }
            }
            None => TrapRecord {
                // An entry trampoline's one trap is its stack check (a
                // `ud2`): the stack limit was poisoned by a kill.
                code: match module
                    .metadata()
                    .trampolines
                    .iter()
                    .any(|t| (t.code.offset..t.code.offset + t.code.len).contains(&text_offset))
                {
                    true if signum == libc::SIGILL => TrapCode::StackOverflow,
                    _ => TrapCode::Unknown,
                },
                module,
                func_index: None,
                offset: text_offset,
            },
        };
        ptr::write(ptr::addr_of_mut!((*inst).exit), Some(Exit::Trap(record)));
        Some(ptr::addr_of!((*inst).host_ctx) as usize)
    }
}

/// The module whose code holds `pc`: the running instance's, or a
/// linked instance's that it called.
///
/// # Safety
/// `inst` must be the running instance of this thread.
unsafe fn code_owner<'a>(inst: *mut Instance, pc: usize) -> Option<&'a Module> {
    // SAFETY: the running instance and its link group are alive for the
    // whole run; modules outlive their instances.
    unsafe {
        let module: &Module = &(*inst).module;
        if module.code().contains(pc) {
            return Some(&*(module as *const Module));
        }
        let group = (*inst).group.as_ref()?;
        group
            .members()
            .iter()
            .map(|m| &*(**m).module as *const Module)
            .find(|m| (**m).code().contains(pc))
            .map(|m| &*m)
    }
}

/// The body of the `Trap` builtin, entered from its stub in `sys`: ends
/// the run with trap `code` (a `TrapCode::number`), attributed to the
/// instruction at `return_pc` (the trap instruction after the call), and
/// switches to the host. No signal is involved.
///
/// # Safety
/// Called only by guest code of this thread's running instance, on its
/// stack, through the stub.
pub(crate) unsafe extern "C" fn trap_entry(code: u32, return_pc: usize) -> ! {
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        // Guest code runs only inside a run; nothing can be returned to.
        std::process::abort();
    }
    let code = TrapCode::from_number(code).unwrap_or(TrapCode::Unknown);
    // SAFETY: the instance runs on this thread (guest code called us); the
    // exit is `None` during a run and nothing else refers to it.
    unsafe {
        let record = match code_owner(inst, return_pc) {
            Some(module) => {
                let text_offset = (return_pc - module.code().base()) as u32;
                let (func_index, offset) = match module.metadata().function_at(text_offset) {
                    Some((index, f)) => (Some(index), text_offset - f.code.offset),
                    None => (None, text_offset),
                };
                TrapRecord {
                    code,
                    module,
                    func_index,
                    offset,
                }
            }
            None => TrapRecord {
                code,
                module: &*(*inst).module,
                func_index: None,
                offset: 0,
            },
        };
        (*inst).exit = Some(Exit::Trap(record));
        context::set(ptr::addr_of!((*inst).host_ctx))
    }
}

/// Owns an instance; dropping it frees the slot.
pub struct InstanceHandle {
    inst: NonNull<Instance>,
}

// SAFETY: an instance is used by one thread at a time (the handle is not
// `Sync`); its embedder context holds only `Send` values.
unsafe impl Send for InstanceHandle {}

impl fmt::Debug for InstanceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceHandle({})", self.instance().module.name())
    }
}

impl InstanceHandle {
    fn instance(&self) -> &Instance {
        // SAFETY: the handle owns a live instance; `&self` excludes runs.
        unsafe { self.inst.as_ref() }
    }

    fn instance_mut(&mut self) -> &mut Instance {
        // SAFETY: as above, exclusively.
        unsafe { self.inst.as_mut() }
    }

    /// Runs the start function of an instance built with
    /// `InstanceBuilder::defer_start`, so that the embedder can hold its
    /// kill switch (or set its fuel) first. Until it has run, `run` fails;
    /// if it fails, instantiation has failed and only `reset` (which runs it
    /// again) or dropping the instance are left.
    pub fn run_start(&mut self) -> Result<(), Error> {
        match self.instance().start {
            StartState::Pending => {}
            StartState::Done | StartState::Failed => {
                return Err(Error::InvalidState("the start function has already run"))
            }
        }
        // SAFETY: exclusive access to the live instance, its start pending.
        unsafe { init::run_start_function(self.inst.as_ptr()) }
    }

    /// Runs the exported function `name` with `args`.
    pub fn run(&mut self, name: &str, args: &[Val]) -> Result<RunResult, Error> {
        match self.instance().start {
            StartState::Done => {}
            StartState::Pending => {
                return Err(Error::InvalidState(
                    "the start function has not run: call run_start first",
                ))
            }
            StartState::Failed => {
                return Err(Error::InvalidState(
                    "the start function failed: reset or drop the instance",
                ))
            }
        }
        let index = match self.instance().module.metadata().export(name) {
            Some(e) => match e.kind {
                ExportKind::Func(i) => i,
                _ => return Err(Error::ExportNotFound(name.to_string())),
            },
            None => return Err(Error::ExportNotFound(name.to_string())),
        };
        // SAFETY: `&mut self` gives exclusive access to the live instance.
        unsafe { Instance::run_func(self.inst.as_ptr(), index, args) }
    }

    /// Resumes a yielded instance; the host function's yield returns `None`.
    pub fn resume(&mut self) -> Result<RunResult, Error> {
        // SAFETY: exclusive access to the live instance.
        unsafe { Instance::resume(self.inst.as_ptr(), None) }
    }

    /// Resumes a yielded instance; the host function's yield returns `val`.
    pub fn resume_with_val<A: Any + Send>(&mut self, val: A) -> Result<RunResult, Error> {
        // SAFETY: exclusive access to the live instance.
        unsafe { Instance::resume(self.inst.as_ptr(), Some(Box::new(val))) }
    }

    /// Puts the instance in this thread's link group (it exports to an
    /// instance being built, `InstanceBuilder::link`), returning the group
    /// and the instance.
    pub(crate) fn join_link_group(&self) -> Result<(Arc<LinkGroup>, *mut Instance), Error> {
        let inst = self.inst.as_ptr();
        // SAFETY: the handle owns the live instance; `&self` excludes runs on
        // other threads, and a run on this thread holds no reference to it.
        unsafe {
            if let Some(g) = &(*inst).group {
                g.check_thread()?;
                return Ok((g.clone(), inst));
            }
            let group = LinkGroup::for_this_thread();
            group.add_member(inst);
            (*inst).group = Some(group.clone());
            Ok((group, inst))
        }
    }

    /// A switch that stops this instance's current run, or its next one if
    /// none is in progress, from any thread.
    pub fn kill_switch(&self) -> KillSwitch {
        KillSwitch::new(&self.instance().kill)
    }

    /// Limits the instance's further execution to `fuel` units (about one
    /// per WebAssembly instruction executed); a run that uses them up traps
    /// with `TrapCode::OutOfFuel` at its next function entry or loop
    /// header. Fuel is per instance and carries over from run to run; code
    /// of a linked instance counts against that instance's own fuel. `reset`
    /// restores the fuel the instance was built with
    /// (`InstanceBuilder::with_fuel`), or no limit. Only for modules compiled
    /// to count instructions (`lucetc --count-instructions`).
    pub fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let inst = self.instance_mut();
        inst.module.check_counts_instructions()?;
        inst.fuel_limited = true;
        // SAFETY: the header is valid for the instance's life; `&mut self`
        // excludes a run, and a yielded run reloads the count when its host
        // call returns.
        unsafe { (*inst.header()).fuel = fuel_word(fuel) };
        Ok(())
    }

    /// Lifts the fuel limit `set_fuel` set.
    pub fn remove_fuel_limit(&mut self) {
        let inst = self.instance_mut();
        inst.fuel_limited = false;
        // SAFETY: as in `set_fuel`.
        unsafe { (*inst.header()).fuel = UNLIMITED_FUEL };
    }

    /// The fuel left, if the instance has a fuel limit.
    pub fn fuel(&self) -> Option<u64> {
        let inst = self.instance();
        // SAFETY: as in `set_fuel`, reading.
        let consumed = unsafe { (*inst.header()).fuel };
        inst.fuel_limited
            .then(|| consumed.checked_neg().map_or(0, |left| left.max(0) as u64))
    }

    /// How many exception objects the instance holds (thrown and not yet
    /// collected): for monitoring, and for tests that a reused slot
    /// starts with none.
    pub fn live_exceptions(&self) -> usize {
        self.instance().buf.exceptions.len()
    }

    /// Whether the instance is suspended in a yield.
    pub fn is_yielded(&self) -> bool {
        self.instance().state == State::Yielded
    }

    /// Puts the instance back in its freshly instantiated state (memory,
    /// globals, tables, the fuel it was built with) and runs the start
    /// function again. The embedder context is kept.
    pub fn reset(&mut self) -> Result<(), Error> {
        if let Some(g) = &self.instance().group {
            g.check_thread()?;
        }
        // SAFETY: exclusive access to the live instance.
        unsafe {
            Instance::unwind_if_yielded(self.inst.as_ptr());
            self.instance_mut().teardown()?;
            init::initialize(self.inst.as_ptr(), true)
        }
    }

    /// How many times the GC heap was collected since instantiation (or
    /// the last reset).
    pub fn gc_collections(&self) -> u64 {
        self.instance().gc_collections()
    }

    /// The bytes of the GC heap that objects take now: those that survived
    /// the last collection and those allocated since. At most half the
    /// heap (`Limits::gc_heap_size`), since the collector copies between
    /// two halves.
    pub fn gc_heap_used(&self) -> usize {
        let (start, next) = self.instance().gc_heap_used();
        next - start
    }

    /// Collects the GC heap now, keeping what the instance's globals,
    /// tables and suspended frames (when it is yielded) and the host's
    /// handles reach. Returns false, collecting nothing, for an instance
    /// of a link group, whose members may hold each other's objects.
    pub fn collect_garbage(&mut self) -> bool {
        let yielded = self.instance().state == State::Yielded;
        // SAFETY: exclusive access to the live instance, which is not
        // running: either no guest code of it is on its stack, or it is
        // suspended in a host function's yield, whose import stub
        // recorded the calling frame.
        unsafe { self.instance_mut().collect_garbage(yielded) }
    }

    /// The module this is an instance of.
    pub fn module(&self) -> &Arc<Module> {
        &self.instance().module
    }

    /// The instance's linear memory.
    pub fn heap(&self) -> &[u8] {
        self.instance().memory()
    }

    /// The instance's linear memory, mutably.
    pub fn heap_mut(&mut self) -> &mut [u8] {
        self.instance_mut().memory_mut()
    }

    /// The accessible bytes of memory `index` (in the module's memory index
    /// space, imports first), or `None` if the module has no such memory.
    pub fn memory(&self, index: u32) -> Option<&[u8]> {
        let inst = self.instance();
        ((index as usize) < inst.module.metadata().memories.len()).then(|| inst.memory_at(index))
    }

    /// Memory `index`'s accessible bytes, mutably.
    pub fn memory_mut(&mut self, index: u32) -> Option<&mut [u8]> {
        let count = self.instance().module.metadata().memories.len();
        ((index as usize) < count).then(|| self.instance_mut().memory_at_mut(index))
    }

    /// The function a funcref names, as an index into this instance's
    /// module (imports first), if it is one of this instance's own
    /// references; `None` for null, other values, and references to other
    /// instances' functions.
    pub fn funcref_index(&self, v: &Val) -> Option<u32> {
        match *v {
            Val::FuncRef(p) if p != 0 => self.instance().funcref_function(p),
            _ => None,
        }
    }

    /// The value of the exported global `name`.
    pub fn get_global(&self, name: &str) -> Result<Val, Error> {
        let inst = self.instance();
        let v = match inst.module.metadata().export(name).map(|e| e.kind) {
            Some(ExportKind::Global(i)) => inst.global(i),
            _ => return Err(Error::ExportNotFound(name.to_string())),
        };
        // SAFETY: the handle owns the instance and is not shared between
        // threads; no reference into its exception heap is held here.
        unsafe { (*self.inst.as_ptr()).pin(&v) };
        Ok(v)
    }

    /// Sets the exported mutable global `name`.
    pub fn set_global(&mut self, name: &str, val: Val) -> Result<(), Error> {
        let index = match self
            .instance()
            .module
            .metadata()
            .export(name)
            .map(|e| e.kind)
        {
            Some(ExportKind::Global(i)) => i,
            _ => return Err(Error::ExportNotFound(name.to_string())),
        };
        self.instance_mut().set_global(index, val)
    }

    /// Adds a value to the embedder context, returning the previous value of
    /// its type.
    pub fn insert_embed_ctx<T: Any + Send>(&mut self, value: T) -> Option<T> {
        self.instance_mut().embed_ctx.insert(value)
    }

    /// The embedder context value of type `T`.
    pub fn get_embed_ctx<T: Any>(&self) -> Option<&T> {
        self.instance().embed_ctx.get()
    }

    /// The embedder context value of type `T`, mutably.
    pub fn get_embed_ctx_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.instance_mut().embed_ctx.get_mut()
    }

    /// Removes the embedder context value of type `T`.
    pub fn remove_embed_ctx<T: Any>(&mut self) -> Option<T> {
        self.instance_mut().embed_ctx.remove()
    }
}

/// Tears an instance down and returns its slot to its region.
///
/// # Safety
/// `inst` must be live, not running, and referred to by nothing that will
/// be used again.
unsafe fn destroy(inst: *mut Instance) {
    // SAFETY: as the caller guarantees; after `drop_in_place` nothing refers
    // to the instance and the slot goes back to the region.
    unsafe {
        // Decommitting can only fail if the kernel refuses to map address
        // space we own; then the slot must not be reused.
        (*inst).kill.disarm();
        // The GC heap's memory goes back only when the instance goes: a
        // reset leaves it resident for the same instance's next objects.
        let reusable = (*inst).teardown().is_ok() && (*inst).release_gc_heap().is_ok();
        let region = (*inst).region.clone();
        let index = (*inst).slot.index;
        (*(*inst).header()).magic = 0;
        // The slot keeps the instance's host-side storage (borrowed in place)
        // for the next one.
        ptr::drop_in_place(inst);
        if reusable {
            region.return_slot(index);
        }
    }
}

impl Drop for InstanceHandle {
    fn drop(&mut self) {
        let inst = self.inst.as_ptr();
        // SAFETY: the handle owns the instance. A linked instance is only
        // released here; its group destroys all its instances together once
        // the last handle is gone, when nothing can run any of them.
        unsafe {
            Instance::unwind_if_yielded(inst);
            match (*inst).group.clone() {
                None => destroy(inst),
                Some(group) => {
                    if group.release() {
                        for member in group.take_members() {
                            Instance::unwind_if_yielded(member);
                            destroy(member);
                        }
                    }
                }
            }
        }
    }
}
