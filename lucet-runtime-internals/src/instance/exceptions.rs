//! Exceptions: the objects `exnref`s point to, the unwinder that takes a
//! throw to its handler, and the collector that frees what no guest state
//! refers to any more.
//!
//! **Objects.** A throw allocates an [`Exception`] (its tag's identity and
//! its payload) in the throwing instance's exception heap; an `exnref` is
//! its address. Guest code can keep `exnref`s anywhere (locals, the operand
//! stack, globals, tables, other exceptions' payloads), so objects are
//! reclaimed by a collector, not at catch time.
//!
//! **Unwinding.** The throw builtin (`sys/.../unwind.rs`) hands over the
//! thrower's frame pointer and return address. Generated code keeps frame
//! pointers, so the frames form a chain; for each frame whose return
//! address is a call with handlers, the handlers are tried in order (a tag
//! handler names a tag index of the catching frame's instance, found
//! through the vmctx that function keeps in its frame). The first match
//! resumes at the handler with the frame's stack and frame pointers and
//! two payload words: the `exnref` and the address of the payload values.
//! A frame outside the code of the running instance's link group (the
//! run's entry) ends the walk: the exception escapes the run, which ends
//! with `Error::UncaughtException`. Traps never come here: they are
//! signals, and are never caught.
//!
//! **Collection.** When a heap grows past its threshold, the collector
//! marks every object that a word of guest state may point to — the
//! running stack above the throw, the stacks of yielded instances of the
//! group, every globals area and table of the group, the payloads of marked
//! objects, and objects pinned because the host holds them — and frees the
//! rest, in every heap of the group. It is conservative (any word equal to
//! an object's address keeps it), so it never frees a live object. The
//! throw stub spills the callee-saved registers to the stack first, so no
//! reference hides in a register. `Limits::max_exception_bytes` bounds a
//! heap: a throw that would exceed it after a collection traps with
//! `ExceptionStorageExhausted`.

use std::collections::HashMap;
use std::ptr;

use lucet_module::{TrapCode, ValRaw};

use super::{guarded, instance_from_vmctx, Exit, Instance, State, TrapRecord, CURRENT_INSTANCE};
use crate::host_roots::HostRoots;
use crate::module::Module;
use crate::sys::context;
use crate::sys::unwind::UnwindState;
use crate::{ExceptionInfo, Val};

/// An exception: what an `exnref` points to.
pub(crate) struct Exception {
    /// The identity of its tag.
    pub tag: u64,
    /// The module whose type `type_index` is the payload's type (the
    /// thrower's; it lives as long as the instance that owns the object).
    module: *const Module,
    type_index: u32,
    /// The host holds a reference to it: it is never collected.
    pinned: bool,
    marked: bool,
    pub values: Box<[ValRaw]>,
}

impl Exception {
    fn bytes(&self) -> u64 {
        (std::mem::size_of::<Exception>() + self.values.len() * std::mem::size_of::<ValRaw>())
            as u64
    }

    /// The payload as values, objects in it being of the GC heap whose
    /// host roots are `roots` (the thrower's).
    pub(crate) fn payload(&self, roots: &HostRoots) -> Vec<Val> {
        // SAFETY: the module outlives the instance that owns the object.
        let module = unsafe { &*self.module };
        let ty = module
            .metadata()
            .signature(self.type_index)
            .expect("loading checked that tags have function types");
        ty.params
            .iter()
            .zip(self.values.iter())
            // SAFETY: the payload was written by guest code.
            .map(|(t, raw)| unsafe { Val::from_guest(raw, *t, roots) })
            .collect()
    }
}

/// Bytes a heap may reach before the first collection.
const FIRST_COLLECTION: u64 = 64 << 10;

/// The exceptions an instance has allocated.
#[derive(Default)]
pub(crate) struct ExceptionHeap {
    /// By address (the `exnref` value).
    objects: HashMap<usize, Box<Exception>>,
    bytes: u64,
    /// Collect before the heap grows past this.
    collect_at: u64,
}

impl ExceptionHeap {
    /// Frees every object.
    pub(crate) fn clear(&mut self) {
        self.objects.clear();
        self.bytes = 0;
        self.collect_at = 0;
    }

    /// How many objects it holds.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    /// Each exception's payload, with its types.
    pub(crate) fn payloads_mut(
        &mut self,
    ) -> impl Iterator<Item = (&[lucet_module::ValType], &mut [ValRaw])> + '_ {
        self.objects.values_mut().map(|e| {
            // SAFETY: the module outlives the instance that owns the object.
            let module = unsafe { &*e.module };
            let types = module
                .metadata()
                .signature(e.type_index)
                .map_or(&[][..], |t| &t.params[..]);
            (types, &mut e.values[..])
        })
    }

    fn contains(&self, addr: usize) -> bool {
        self.objects.contains_key(&addr)
    }

    fn get_mut(&mut self, addr: usize) -> Option<&mut Exception> {
        self.objects.get_mut(&addr).map(|b| &mut **b)
    }
}

/// What a throw comes to.
enum Outcome {
    /// A handler was found; the stub resumes there.
    Caught,
    /// No guest frame catches: the run ends with this exception.
    Uncaught(usize),
    /// The run ends with a trap.
    Trap(TrapRecord),
}

/// Entry of `lucet_builtin_throw`: throws an exception of tag `tag` of the
/// calling instance, with the payload at `values`.
pub(crate) extern "C" fn throw_entry(
    vmctx: *mut u8,
    tag: u32,
    values: *const ValRaw,
    state: *mut UnwindState,
) {
    let outcome = guarded(|| {
        // SAFETY: generated code passes its live vmctx, a payload buffer of
        // the tag's arity and the stub's state.
        unsafe { throw(vmctx, tag, values, &mut *state) }
    });
    // SAFETY: nothing in this frame needs dropping; we are on the guest
    // stack of this thread's running instance.
    unsafe { finish(outcome) }
}

/// Entry of `lucet_builtin_throw_ref`: throws `exn` again.
pub(crate) extern "C" fn throw_ref_entry(vmctx: *mut u8, exn: usize, state: *mut UnwindState) {
    let outcome = guarded(|| {
        // SAFETY: as for `throw_entry`.
        unsafe {
            let inst = instance_from_vmctx(vmctx);
            let state = &mut *state;
            if find_exception(inst, exn).is_none() {
                // Guest code only has exnrefs of live objects; anything
                // else is a runtime bug, stopped here rather than followed.
                panic!("throw_ref of an unknown exception reference {exn:#x}");
            }
            unwind(exn, state)
        }
    });
    // SAFETY: as for `throw_entry`.
    unsafe { finish(outcome) }
}

/// Acts on what a throw came to: returns to the stub for a handler, or
/// leaves the run.
///
/// # Safety
/// On the guest stack of this thread's running instance, with no frame
/// between here and guest code that needs dropping.
unsafe fn finish(outcome: Outcome) {
    let exit = match outcome {
        Outcome::Caught => return,
        Outcome::Uncaught(exn) => Exit::Exception(exn),
        Outcome::Trap(record) => Exit::Trap(record),
    };
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    // SAFETY: the running instance is live; `exit` is `None` during a run.
    unsafe {
        ptr::write(ptr::addr_of_mut!((*inst).exit), Some(exit));
        context::set(ptr::addr_of!((*inst).host_ctx))
    }
}

/// Allocates the exception and unwinds to its handler.
///
/// # Safety
/// As for `throw_entry`.
unsafe fn throw(
    vmctx: *mut u8,
    tag: u32,
    values: *const ValRaw,
    state: &mut UnwindState,
) -> Outcome {
    // SAFETY: the caller guarantees a live vmctx and payload.
    unsafe {
        let inst = instance_from_vmctx(vmctx);
        let module: *const Module = &*(*inst).module;
        let data = (*module).metadata();
        let type_index = data.tags[tag as usize].type_index;
        let n = data
            .signature(type_index)
            .expect("loading checked that tags have function types")
            .params
            .len();
        let values = std::slice::from_raw_parts(values, n);
        let exception = Box::new(Exception {
            tag: Instance::bufs(inst).tag_ids[tag as usize],
            module,
            type_index,
            pinned: false,
            marked: false,
            values: values.into(),
        });
        let Some(exn) = allocate(inst, exception, state.sp) else {
            let record = trap_record_at(state.pc, TrapCode::ExceptionStorageExhausted);
            return Outcome::Trap(record);
        };
        unwind(exn, state)
    }
}

/// A trap record for the throw that returns to `pc`.
///
/// # Safety
/// On this thread's running instance's stack.
unsafe fn trap_record_at(pc: usize, code: TrapCode) -> TrapRecord {
    let run = CURRENT_INSTANCE.with(|c| c.get());
    // SAFETY: the running instance and its group are live.
    unsafe {
        let module = module_for_pc(run, pc).unwrap_or(&*(*run).module);
        let text = (pc - module.code().base()) as u32;
        match module.metadata().function_at(text) {
            Some((index, f)) => TrapRecord {
                code,
                module,
                func_index: Some(index),
                offset: text - f.code.offset,
            },
            None => TrapRecord {
                code,
                module,
                func_index: None,
                offset: text,
            },
        }
    }
}

/// The instances whose exceptions one instance can see: its link group's,
/// or itself.
///
/// # Safety
/// `inst` must be live.
unsafe fn group_of(inst: *mut Instance) -> Vec<*mut Instance> {
    // SAFETY: the caller guarantees `inst` is live; a group's members live
    // as long as the group and run on this thread.
    unsafe {
        match &(*inst).group {
            Some(g) => g.members().to_vec(),
            None => vec![inst],
        }
    }
}

/// The module whose code holds `pc`: the running instance's, or a linked
/// instance's.
///
/// # Safety
/// `run` must be live.
unsafe fn module_for_pc<'a>(run: *mut Instance, pc: usize) -> Option<&'a Module> {
    // SAFETY: the caller guarantees `run` is live, and its group with it.
    unsafe {
        let own: &Module = &(*run).module;
        if own.code().contains(pc) {
            return Some(own);
        }
        let group = (*run).group.as_ref()?;
        group
            .members()
            .iter()
            .map(|m| &*(**m).module)
            .find(|m| m.code().contains(pc))
    }
}

/// The exception at `addr`, if it is a live object of `inst`'s group.
///
/// # Safety
/// `inst` must be live.
pub(crate) unsafe fn find_exception<'a>(
    inst: *mut Instance,
    addr: usize,
) -> Option<&'a mut Exception> {
    // SAFETY: as in `group_of`.
    unsafe {
        group_of(inst).into_iter().find_map(|m| {
            Instance::bufs(m)
                .exceptions
                .get_mut(addr)
                .map(|e| &mut *(e as *mut Exception))
        })
    }
}

/// Walks the frames from the throw to the first handler of the exception
/// at `exn`, and fills in `state` to resume there.
///
/// # Safety
/// On this thread's running instance's stack, `state` holding the throw's
/// frame pointer and return address.
unsafe fn unwind(exn: usize, state: &mut UnwindState) -> Outcome {
    let run = CURRENT_INSTANCE.with(|c| c.get());
    // SAFETY: the running instance is live; frame pointers of generated
    // code point into its stack (checked before each read), and the handler
    // tables come from the modules of its group.
    unsafe {
        let tag = (*(exn as *const Exception)).tag;
        let bottom = (*run).slot.stack_bottom() as usize;
        let top = (*run).slot.stack_top() as usize;
        let members = group_of(run);
        let (mut fp, mut pc) = (state.fp, state.pc);
        loop {
            if fp % 8 != 0 || fp < bottom || fp + 16 > top {
                return Outcome::Uncaught(exn);
            }
            let Some(module) = module_for_pc(run, pc) else {
                return Outcome::Uncaught(exn);
            };
            let text = (pc - module.code().base()) as u32;
            let data = module.metadata();
            if let Some((i, f)) = data.function_at(text) {
                if let Some(site) = data.handlers_at(i, text - f.code.offset) {
                    let slot = fp.wrapping_add_signed(site.vmctx_fp_offset as isize);
                    let vmctx = *(slot as *const *mut u8);
                    // The catching frame's instance: one of the group.
                    let frame_inst = members.iter().copied().find(|m| (**m).vmctx() == vmctx);
                    if let Some(frame_inst) = frame_inst {
                        let tag_ids: &[u64] = &Instance::bufs(frame_inst).tag_ids;
                        let target = site.handlers.iter().find_map(|h| match *h {
                            lucet_module::Handler::Tag { tag: t, target } => {
                                (tag_ids.get(t as usize) == Some(&tag)).then_some(target)
                            }
                            lucet_module::Handler::All { target } => Some(target),
                        });
                        if let Some(target) = target {
                            let values = (*(exn as *const Exception)).values.as_ptr();
                            state.pc = module.code().base() + (f.code.offset + target) as usize;
                            state.sp = fp - site.frame_offset as usize;
                            state.fp = fp;
                            state.payload = [exn, values as usize];
                            return Outcome::Caught;
                        }
                    }
                }
            }
            // The caller's frame.
            pc = *((fp + 8) as *const usize);
            fp = *(fp as *const usize);
        }
    }
}

/// Puts `exception` in `inst`'s heap, collecting first if the heap is
/// past its threshold. `None`: even after collecting, the heap is full.
///
/// # Safety
/// On this thread's running instance's stack; `scan_from` is the lowest
/// address of guest state on it.
unsafe fn allocate(
    inst: *mut Instance,
    exception: Box<Exception>,
    scan_from: usize,
) -> Option<usize> {
    // SAFETY: the caller guarantees `inst` is live and we are on the
    // running stack.
    unsafe {
        let limit = (*inst).region.limits().max_exception_bytes;
        let bytes = exception.bytes();
        let heap = &mut Instance::bufs(inst).exceptions;
        if heap.collect_at == 0 {
            heap.collect_at = FIRST_COLLECTION.min(limit);
        }
        if heap.bytes + bytes > heap.collect_at {
            collect(scan_from);
            let heap = &mut Instance::bufs(inst).exceptions;
            // Room for as much again as survived, within the limit.
            heap.collect_at = (heap.bytes * 2).clamp(FIRST_COLLECTION.min(limit), limit);
            // A collection that leaves less than a sixteenth of the limit
            // free does not let the program make progress: each throw
            // would be another full collection. The heap counts as full.
            if heap.bytes > limit - limit / 16 {
                return None;
            }
        }
        let heap = &mut Instance::bufs(inst).exceptions;
        if heap.bytes + bytes > limit {
            return None;
        }
        let addr = &*exception as *const Exception as usize;
        heap.bytes += bytes;
        heap.objects.insert(addr, exception);
        Some(addr)
    }
}

/// Marks the object a word may point to (and queues it for scanning).
fn mark_word(members: &[*mut Instance], word: u64, queue: &mut Vec<usize>) {
    let addr = word as usize;
    if addr == 0 || addr % 8 != 0 {
        return;
    }
    for m in members {
        // SAFETY: members are live during the collection, which runs on
        // their thread with guest code suspended.
        let heap = unsafe { &mut Instance::bufs(*m).exceptions };
        if let Some(e) = heap.get_mut(addr) {
            if !e.marked {
                e.marked = true;
                queue.push(addr);
            }
            return;
        }
    }
}

/// Marks from every word in `start..end` (8-byte aligned words).
///
/// # Safety
/// The range must be readable.
unsafe fn scan_range(
    members: &[*mut Instance],
    start: usize,
    end: usize,
    queue: &mut Vec<usize>,
) -> u64 {
    let mut at = start.next_multiple_of(8);
    let mut words = 0;
    while at + 8 <= end {
        // SAFETY: the caller guarantees the range is readable.
        let word = unsafe { *(at as *const u64) };
        mark_word(members, word, queue);
        at += 8;
        words += 1;
    }
    words
}

/// Collects the exceptions of the running instance's group that no guest
/// state refers to.
///
/// # Safety
/// On this thread's running instance's stack, `scan_from` the lowest
/// address of guest state on it.
unsafe fn collect(scan_from: usize) {
    let run = CURRENT_INSTANCE.with(|c| c.get());
    // SAFETY: the group's instances are live and suspended (their code is
    // below us on this stack, or yielded); every range read is theirs.
    unsafe {
        let members = group_of(run);
        let mut queue = Vec::new();
        // Words scanned: the collection's work, charged to the running
        // instance's fuel.
        let mut words: u64 = 0;
        for m in &members {
            for e in Instance::bufs(*m).exceptions.objects.values_mut() {
                e.marked = e.pinned;
                if e.pinned {
                    queue.push(&**e as *const Exception as usize);
                }
            }
        }
        // The running stack, from the throw's saved registers up.
        words += scan_range(
            &members,
            scan_from,
            (*run).slot.stack_top() as usize,
            &mut queue,
        );
        for m in &members {
            let m = *m;
            if m != run && (*m).state == State::Yielded {
                let sp = (*m).guest_ctx.stack_pointer();
                words += scan_range(&members, sp, (*m).slot.stack_top() as usize, &mut queue);
            }
            let globals = (*m).slot.globals() as usize;
            words += scan_range(
                &members,
                globals,
                globals + (*m).slot.layout.globals_size,
                &mut queue,
            );
            for t in &Instance::bufs(m).tables {
                for e in &t.elements {
                    mark_word(&members, *e, &mut queue);
                }
            }
            // GC objects may hold `exnref` fields, and element segments
            // evaluated at instantiation may hold exceptions too.
            let (start, end) = (*m).gc_heap_used();
            words += scan_range(&members, start, end, &mut queue);
            for values in Instance::bufs(m).evaluated_elems.iter().flatten() {
                for v in values.iter() {
                    mark_word(&members, *v, &mut queue);
                }
            }
        }
        while let Some(addr) = queue.pop() {
            let e = &*(addr as *const Exception);
            for v in e.values.iter() {
                mark_word(&members, v.get_u64(), &mut queue);
                mark_word(&members, (v.get_u128() >> 64) as u64, &mut queue);
            }
        }
        for m in &members {
            let heap = &mut Instance::bufs(*m).exceptions;
            let mut freed = 0;
            heap.objects.retain(|_, e| {
                if !e.marked {
                    freed += e.bytes();
                }
                e.marked
            });
            heap.bytes -= freed;
        }
        (*run).charge_fuel(words);
    }
}

impl Instance {
    /// What the host learns of an exception that ended a run, and keeps
    /// the object from being collected (the host may hold `exnref`s of its
    /// payload).
    pub(crate) fn exception_info(&mut self, exn: usize) -> ExceptionInfo {
        let this = self as *mut Instance;
        // SAFETY: `self` is live; the object is in its group.
        let Some(e) = (unsafe { find_exception(this, exn) }) else {
            return ExceptionInfo {
                tag: None,
                payload: Vec::new(),
            };
        };
        let tag = self
            .buf
            .tag_ids
            .iter()
            .position(|t| *t == e.tag)
            .map(|i| i as u32);
        let payload = e.payload(self.host_roots());
        for v in &payload {
            self.pin(v);
        }
        ExceptionInfo { tag, payload }
    }

    /// Keeps the exception `v` refers to, if any, alive for as long as the
    /// instance (the host holds it).
    pub(crate) fn pin(&mut self, v: &Val) {
        if let Val::ExnRef(addr) = *v {
            let this = self as *mut Instance;
            // SAFETY: `self` is live.
            if let Some(e) = unsafe { find_exception(this, addr as usize) } {
                e.pinned = true;
            }
        }
    }

    /// Whether `addr` is a live exception this instance's code may see.
    pub(crate) fn knows_exception(&self, addr: u64) -> bool {
        let this = self as *const Instance as *mut Instance;
        // SAFETY: `self` is live.
        unsafe {
            group_of(this)
                .iter()
                .any(|m| Instance::bufs(*m).exceptions.contains(addr as usize))
        }
    }
}
