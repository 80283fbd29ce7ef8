//! `InstanceHandle`: the embedder's owner of an instance, through which it
//! runs, resumes, resets, inspects and finally frees it.

use std::any::Any;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use lucet_module::ExportKind;

use super::link::LinkGroup;
use super::result::RunResult;
use super::{fuel_word, init, Instance, KillSwitch, StartState, State, UNLIMITED_FUEL};
use crate::module::Module;
use crate::{Error, Val};

/// Owns an instance; dropping it frees the slot.
pub struct InstanceHandle {
    pub(super) inst: NonNull<Instance>,
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
    /// handles reach. An instance of a link group, whose members may hold
    /// each other's objects, collects with the whole group; it returns
    /// false, collecting nothing, while a member of the group has a run in
    /// progress (running or yielded).
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

    /// The accessible bytes of the memory exported as `name`, or `None` if
    /// the module exports no memory by that name.
    pub fn exported_memory(&self, name: &str) -> Option<&[u8]> {
        match self.instance().module.metadata().export(name)?.kind {
            ExportKind::Memory(index) => self.memory(index),
            _ => None,
        }
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
    ///
    /// # Panics
    /// If the instance is yielded: the host function it is suspended in may
    /// hold the context's values (`Vmctx::embed_ctx_and_caller_mut`).
    pub fn insert_embed_ctx<T: Any + Send>(&mut self, value: T) -> Option<T> {
        assert!(
            !self.is_yielded(),
            "the embedder context of a yielded instance belongs to its host function"
        );
        self.instance_mut().embed_ctx.insert(value)
    }

    /// The embedder context value of type `T`; `None` while the instance is
    /// yielded (the host function it is suspended in may hold it).
    pub fn get_embed_ctx<T: Any>(&self) -> Option<&T> {
        if self.is_yielded() {
            return None;
        }
        self.instance().embed_ctx.get()
    }

    /// The embedder context value of type `T`, mutably; `None` while the
    /// instance is yielded.
    pub fn get_embed_ctx_mut<T: Any>(&mut self) -> Option<&mut T> {
        if self.is_yielded() {
            return None;
        }
        self.instance_mut().embed_ctx.get_mut()
    }

    /// Removes the embedder context value of type `T`; `None` while the
    /// instance is yielded.
    pub fn remove_embed_ctx<T: Any>(&mut self) -> Option<T> {
        if self.is_yielded() {
            return None;
        }
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
