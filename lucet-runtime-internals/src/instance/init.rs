//! Instantiation, reset and teardown: from an empty slot to an instance
//! whose memory, globals, tables and header are set up and whose start
//! function has run — and back.
//!
//! The memory image is mapped copy-on-write from the module's file, so
//! instantiation does no work proportional to the module's data. Segments
//! that could not be baked into the image (offsets from imported globals)
//! are applied here, in order, with the specification's bounds checks.

use std::ptr;
use std::sync::Arc;

use lucet_module::{
    ConstExpr, ConstOp, ElemItems, ElemSegmentKind, FuncRef, InstanceHeader, MemoryDef, TableDef,
    TrapCode, ValRaw, WASM_PAGE_SIZE,
};

use super::bind::{ImportedGlobal, Imports};
use super::kill::Target;
use super::memories::memory_limit;
use super::region::{MmapRegion, Slot, SlotLayout};
use super::{
    fuel_word, Instance, InstanceHandle, SlotBuffers, StartState, State, Table, TableRef,
    UNLIMITED_FUEL,
};
use crate::module::Module;
use crate::sys::context::Context;
use crate::{EmbedCtx, Error, Limits, Val};

/// Most elements a table may grow to.
/// Bytes of the globals area a module needs: its globals, then storage for
/// the values of imported globals.
fn globals_bytes(module: &Module) -> u64 {
    let data = module.metadata();
    let imported = data.globals.iter().filter(|g| g.import.is_some()).count();
    (data.globals.len() + imported) as u64 * InstanceHeader::GLOBAL_SLOT_SIZE as u64
}

/// Checks that `module` can be instantiated in slots of `layout`.
pub(crate) fn check_fits(
    module: &Module,
    limits: &Limits,
    layout: &SlotLayout,
) -> Result<(), Error> {
    let data = module.metadata();
    if data.memories.len() > limits.max_memories as usize {
        return Err(Error::LimitsExceeded(format!(
            "the module has {} memories; the region's instances may have {}",
            data.memories.len(),
            limits.max_memories
        )));
    }
    for m in &data.memories {
        let needed = m.heap.reserved_size + m.heap.guard_size;
        if needed > layout.heap_space as u64 {
            return Err(Error::LimitsExceeded(format!(
                "the module was compiled for {} bytes of heap reservation and {} of guard; the region provides {} bytes of heap address space",
                m.heap.reserved_size, m.heap.guard_size, layout.heap_space
            )));
        }
        let initial = m.heap.initial_pages.saturating_mul(WASM_PAGE_SIZE);
        if initial > m.heap.reserved_size {
            return Err(Error::LimitsExceeded(format!(
                "the module's initial memory ({initial} bytes) is larger than the heap reservation it was compiled for ({} bytes); recompile it with a larger --reserved-size",
                m.heap.reserved_size
            )));
        }
        if initial > limits.heap_memory_size {
            return Err(Error::LimitsExceeded(format!(
                "the module needs {initial} bytes of initial memory; the region allows {}",
                limits.heap_memory_size
            )));
        }
    }
    // One budget for every memory an instance defines (imported ones are
    // their owners').
    let initial_total = data
        .memories
        .iter()
        .filter(|m| m.import.is_none())
        .fold(0u64, |sum, m| {
            sum.saturating_add(m.heap.initial_pages.saturating_mul(WASM_PAGE_SIZE))
        });
    if initial_total > limits.heap_memory_size {
        return Err(Error::LimitsExceeded(format!(
            "the module's memories need {initial_total} bytes together at the start; the region allows {} for all of an instance's memories",
            limits.heap_memory_size
        )));
    }
    let defined = data.tables.iter().filter(|t| t.import.is_none());
    let tables = defined.clone().count();
    if tables > limits.max_tables as usize {
        return Err(Error::LimitsExceeded(format!(
            "the module defines {tables} tables; the region's instances may have {}",
            limits.max_tables
        )));
    }
    let elements = defined.fold(0u64, |sum, t| sum.saturating_add(t.min));
    if elements > limits.max_table_elements {
        return Err(Error::LimitsExceeded(format!(
            "the module's tables need {elements} elements; the region allows {} per instance",
            limits.max_table_elements
        )));
    }
    let globals = globals_bytes(module);
    if globals > layout.globals_size as u64 {
        return Err(Error::LimitsExceeded(format!(
            "the module needs {globals} bytes of globals; the region allows {}",
            layout.globals_size
        )));
    }
    Ok(())
}

/// Creates an instance in `slot` and initializes it.
pub(crate) fn instantiate(
    region: Arc<MmapRegion>,
    slot: Slot,
    module: Arc<Module>,
    embed_ctx: EmbedCtx,
    build_fuel: Option<u64>,
    defer_start: bool,
    bound_imports: Option<Box<Imports>>,
) -> Result<InstanceHandle, Error> {
    let limits = region.limits();
    let heap_limit = match module.metadata().memories.first() {
        Some(m) if m.import.is_none() => memory_limit(limits, &m.heap, m.memory64),
        _ => 0,
    };
    let group = match bound_imports.as_ref().and_then(|i| i.group.as_ref()) {
        None => None,
        Some(weak) => {
            let group = weak.upgrade().ok_or(Error::InvalidState(
                "an instance this module imports from has been dropped",
            ));
            match group.and_then(|g| g.check_thread().map(|()| g)) {
                Ok(g) => Some(g),
                Err(e) => {
                    region.return_slot(slot.index);
                    return Err(e);
                }
            }
        }
    };
    let state = region.slot_state(slot.index);
    let region_kill = state.kill.clone();
    // SAFETY: the slot's buffers belong to the slot's holder, now us; the
    // region (and its slot states) outlives the instance.
    let buf = unsafe { SlotBuffers::borrow(state.buffers.get()) };
    let inst = slot.base as *mut Instance;
    // SAFETY: the slot was just taken from the free list, so its instance
    // page (read-write, page-aligned, large enough by the assertion on
    // `Instance`) holds nothing live.
    unsafe {
        ptr::write(
            inst,
            Instance {
                module,
                region,
                slot,
                heap_limit,
                heap_mapped: 0,
                state: State::Ready,
                exit: None,
                host_ctx: Context::default(),
                guest_ctx: Context::default(),
                running_func: 0,
                buf,
                stack_limit: 0,
                group: group.clone(),
                bound_imports,
                kill: region_kill,
                embed_ctx,
                resume_val: None,
                fuel_limited: false,
                build_fuel,
                start: StartState::Done,
                host_roots: crate::host_roots::HostRoots::default(),
                gc_collections: 0,
                unwind_requested: false,
                preempted: false,
            },
        );
    }
    if let Some(g) = &group {
        // SAFETY: on the group's thread (checked above); the instance lives
        // until the group is torn down.
        unsafe { g.add_member(inst) };
    }
    // From here on, dropping the handle cleans the slot up, on error too.
    let handle = InstanceHandle {
        // SAFETY: `inst` is the slot's base address, never null.
        inst: unsafe { ptr::NonNull::new_unchecked(inst) },
    };
    // SAFETY: the handle owns the instance exclusively.
    unsafe { initialize(inst, !defer_start)? };
    Ok(handle)
}

/// Sets up memory, globals, tables and the header, then runs the start
/// function (or, unless `run_start`, leaves it for `InstanceHandle::run_start`).
///
/// # Safety
/// `inst` must be live, not running, with its heap decommitted.
pub(crate) unsafe fn initialize(inst: *mut Instance, run_start: bool) -> Result<(), Error> {
    // SAFETY: exclusive access until the start function runs, which goes
    // through `run_func` with no reference held.
    unsafe {
        let this = &mut *inst;
        this.setup_memory()?;
        this.setup_memories()?;
        this.setup_tags();
        this.setup_functions();
        this.write_header();
        let target = match &this.group {
            Some(group) => {
                // The header must carry the state of the group's run.
                group.refresh();
                Target::Group {
                    group: Arc::downgrade(group),
                    instance: inst,
                }
            }
            None => Target::Header(this.header()),
        };
        this.kill.arm(target, this.module.metadata().interruptible);
        this.setup_globals()?;
        this.evaluate_allocating_segments()?;
        this.setup_tables()?;
        this.apply_data_segments()?;
        this.state = State::Ready;
        this.start = StartState::Pending;
    }
    if run_start {
        // SAFETY: as above.
        unsafe { run_start_function(inst) }
    } else {
        Ok(())
    }
}

/// Runs the module's start function, if any, recording the outcome.
///
/// # Safety
/// `inst` must be live and not borrowed, its start pending.
pub(crate) unsafe fn run_start_function(inst: *mut Instance) -> Result<(), Error> {
    // SAFETY: exclusive access; no reference is held across the run.
    unsafe {
        let result = match (*inst).module.metadata().start {
            Some(start) => Instance::run_func(inst, start, &[]).map(|_| ()),
            None => Ok(()),
        };
        (*inst).start = match result {
            Ok(()) => StartState::Done,
            Err(_) => StartState::Failed,
        };
        result
    }
}

fn trap_at_instantiation(code: TrapCode) -> Error {
    Error::Trap {
        code,
        function: "<instantiation>".to_string(),
        offset: 0,
    }
}

impl Instance {
    /// Builds the import table and the funcref records.
    fn setup_functions(&mut self) {
        let vmctx = self.vmctx();
        let module = self.module_ref();
        // The records depend only on the module and this slot's vmctx: a
        // slot builds them once per module (unless the module imports from
        // other instances).
        if self.buf.functions_for == module.id() && self.bound_imports.is_none() {
            return;
        }
        self.buf.functions_for = 0;
        self.buf.func_imports.clear();
        let data = module.metadata();
        self.imports()
            .push_func_imports(vmctx, &mut self.buf.func_imports);
        self.buf.func_import_types.clear();
        self.imports()
            .push_func_import_types(&mut self.buf.func_import_types);
        let buf: &mut super::InstanceBuffers = &mut self.buf;
        buf.funcrefs.clear();
        let imports = &buf.func_imports;
        let import_types = &buf.func_import_types;
        // A reference to another instance's function refers to the function
        // itself, called with that instance's vmctx; one to a host function,
        // to this module's stub.
        let records = data
            .funcref_slots
            .iter()
            .zip(module.funcref_templates())
            .map(|(&f, &(code, ty))| match imports.get(f as usize) {
                // Another instance's function keeps its exporter's type,
                // which may be a declared subtype of the import's.
                Some(import) if !import.native_code.is_null() => FuncRef {
                    code: import.native_code,
                    ty: import_types
                        .get(f as usize)
                        .copied()
                        .flatten()
                        .unwrap_or(ty),
                    vmctx: import.native_vmctx,
                },
                _ => FuncRef {
                    code: code as *const u8,
                    ty,
                    vmctx,
                },
            });
        buf.funcrefs.extend(records);
        buf.functions_for = module.id();
    }

    /// The identities of the tags: an imported tag's is its exporter's;
    /// each instance's defined tags are new ones, never used before.
    fn setup_tags(&mut self) {
        static NEXT_TAG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let module = self.module_ref();
        let mut imported = self.imports().tags().iter();
        self.buf.tag_ids.clear();
        for t in &module.metadata().tags {
            let id = match t.import {
                Some(_) => imported.next().expect("resolved with the module").identity,
                None => NEXT_TAG.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            };
            self.buf.tag_ids.push(id);
        }
    }

    fn write_header(&mut self) {
        let limits = self.region.limits();
        self.stack_limit = self.slot.stack_bottom() as usize + limits.host_stack_reserve() as usize;
        let stack_limit = self.stack_limit;
        let memory_length = self.heap_mapped;
        self.fuel_limited = self.build_fuel.is_some();
        let header = InstanceHeader {
            fuel: self.build_fuel.map_or(UNLIMITED_FUEL, fuel_word),
            instance: self as *mut Instance as *mut std::ffi::c_void,
            func_imports: self.buf.func_imports.as_ptr(),
            funcrefs: self.buf.funcrefs.as_ptr(),
            // `&'static TypeRecord` has the layout of a record pointer.
            types: self.module.type_records().as_ptr().cast(),
            tables: ptr::null(),
            globals: self.slot.globals(),
            memory: MemoryDef {
                base: self.slot.heap(),
                current_length: memory_length,
            },
            memories: self.buf.memory_defs.as_ptr(),
            tags: self.buf.tag_ids.as_ptr(),
            stack_limit,
            interrupt: 0,
            magic: InstanceHeader::MAGIC,
            exit_fp: 0,
            exit_pc: 0,
            gc_next: 0,
            gc_limit: 0,
        };
        // SAFETY: the header's place at the end of the instance page is ours.
        unsafe { ptr::write(self.header(), header) };
        self.reset_gc_heap();
    }

    fn global_slot(&self, index: u32) -> *mut ValRaw {
        self.slot
            .globals()
            .wrapping_add((index * InstanceHeader::GLOBAL_SLOT_SIZE) as usize)
            as *mut ValRaw
    }

    /// Where global `index`'s value is stored.
    pub(crate) fn global_storage(&self, index: u32) -> *mut ValRaw {
        let slot = self.global_slot(index);
        if self.module.metadata().globals[index as usize]
            .import
            .is_some()
        {
            // SAFETY: an imported global's slot holds the pointer written by
            // `setup_globals`.
            unsafe { *(slot as *const *mut ValRaw) }
        } else {
            slot
        }
    }

    /// The value of global `index`.
    pub(crate) fn global(&self, index: u32) -> Val {
        let ty = self.module.metadata().globals[index as usize].ty;
        // SAFETY: storage of a global of this instance, valid while it lives.
        // (and what it holds was written by guest code or checked host code).
        unsafe { Val::from_guest(&*self.global_storage(index), ty, self.host_roots()) }
    }

    /// Sets global `index`, which must be mutable and of `val`'s type.
    pub(crate) fn set_global(&mut self, index: u32, val: Val) -> Result<(), Error> {
        let spec = self
            .module
            .metadata()
            .globals
            .get(index as usize)
            .ok_or_else(|| Error::TypeMismatch(format!("no global {index}")))?;
        if !spec.mutable {
            return Err(Error::TypeMismatch(format!("global {index} is immutable")));
        }
        if !self.accepts(&val, spec.ty) {
            return Err(Error::TypeMismatch(format!(
                "global {index} is {}, not {}",
                spec.ty,
                val.ty()
            )));
        }
        // SAFETY: as in `global`, exclusively through `&mut self`.
        unsafe { *self.global_storage(index) = val.to_raw() };
        Ok(())
    }

    /// Evaluates a constant expression (globals before it are initialized);
    /// fails only when an object it creates does not fit in the GC heap.
    pub(super) fn eval(&mut self, expr: &ConstExpr) -> Result<ValRaw, Error> {
        let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
        let pop = |stack: &mut Vec<ValRaw>| stack.pop().unwrap_or_default();
        // The top `n` values (validation made them the operands; a damaged
        // file gets zeros rather than a panic).
        let pop_n =
            |stack: &mut Vec<ValRaw>, n: usize| stack.split_off(stack.len().saturating_sub(n));
        let exhausted = || trap_at_instantiation(TrapCode::GcHeapExhausted);
        for op in &expr.0 {
            let v = match *op {
                ConstOp::I32Const(v) => ValRaw::from_i32(v),
                ConstOp::I64Const(v) => ValRaw::from_i64(v),
                ConstOp::F32Const(v) => ValRaw::from_u32(v),
                ConstOp::F64Const(v) => ValRaw::from_u64(v),
                ConstOp::V128Const(v) => ValRaw::from_u128(v),
                // SAFETY: indices were checked at load; earlier globals are set.
                ConstOp::GlobalGet(g) => unsafe { *self.global_storage(g) },
                ConstOp::RefNull(_) => ValRaw::default(),
                ConstOp::RefFunc(f) => ValRaw::from_u64(self.funcref_address(f)),
                ConstOp::RefI31 => {
                    let i = crate::val::I31::wrapping(pop(&mut stack).get_i32());
                    ValRaw::from_u64(i.to_bits())
                }
                // One encoding for both hierarchies.
                ConstOp::AnyConvertExtern | ConstOp::ExternConvertAny => pop(&mut stack),
                ConstOp::StructNew(t) => {
                    let n = self.module.metadata().types[t as usize]
                        .as_struct()
                        .map_or(0, |f| f.len());
                    let fields = pop_n(&mut stack, n);
                    let s = self.new_struct(t, Some(&fields)).ok_or_else(exhausted)?;
                    ValRaw::from_u64(s)
                }
                ConstOp::StructNewDefault(t) => {
                    ValRaw::from_u64(self.new_struct(t, None).ok_or_else(exhausted)?)
                }
                ConstOp::ArrayNew(t) => {
                    let len = pop(&mut stack).get_u32();
                    let v = pop(&mut stack);
                    ValRaw::from_u64(
                        self.new_array(t, len, &[v], true, false)
                            .ok_or_else(exhausted)?,
                    )
                }
                ConstOp::ArrayNewDefault(t) => {
                    let len = pop(&mut stack).get_u32();
                    ValRaw::from_u64(
                        self.new_array(t, len, &[], true, false)
                            .ok_or_else(exhausted)?,
                    )
                }
                ConstOp::ArrayNewFixed(t, n) => {
                    let values = pop_n(&mut stack, n as usize);
                    let a = self
                        .new_array(t, n, &values, false, false)
                        .ok_or_else(exhausted)?;
                    ValRaw::from_u64(a)
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = pop(&mut stack).get_i32();
                    let a = pop(&mut stack).get_i32();
                    ValRaw::from_i32(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = pop(&mut stack).get_i64();
                    let a = pop(&mut stack).get_i64();
                    ValRaw::from_i64(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
            };
            stack.push(v);
        }
        Ok(pop(&mut stack))
    }

    /// The address of function `f`'s funcref record (0 if it has none).
    pub(crate) fn funcref_address(&self, f: u32) -> u64 {
        match self.module.funcref_slot(f) {
            Some(i) => &self.buf.funcrefs[i as usize] as *const FuncRef as u64,
            None => 0,
        }
    }

    fn setup_globals(&mut self) -> Result<(), Error> {
        let module = self.module_ref();
        let data = module.metadata();
        let mut next_import = 0;
        for (i, g) in data.globals.iter().enumerate() {
            let slot = self.global_slot(i as u32);
            if g.import.is_some() {
                let storage = match self.imports().global(next_import) {
                    ImportedGlobal::Value(value) => {
                        let own = self.global_slot((data.globals.len() + next_import) as u32);
                        // SAFETY: the slot lies in the globals area, which
                        // `check_fits` made sure is large enough.
                        unsafe { *own = value.to_raw() };
                        own
                    }
                    ImportedGlobal::Shared(storage) => storage,
                };
                next_import += 1;
                // SAFETY: as above.
                unsafe {
                    *slot = ValRaw::default();
                    *(slot as *mut *mut ValRaw) = storage;
                }
            } else if let Some(init) = &g.init {
                let v = self.eval(init)?;
                // SAFETY: as above.
                unsafe { *slot = v };
            }
        }
        Ok(())
    }

    /// Item `i` of element segment `seg` as a table element: a segment
    /// whose expressions create objects was evaluated at instantiation;
    /// the others' items are the same whenever they are evaluated.
    pub(super) fn elem_item(&mut self, seg: u32, i: usize) -> u64 {
        if let Some(Some(values)) = self.buf.evaluated_elems.get(seg as usize) {
            return values[i];
        }
        let module = self.module_ref();
        match &module.metadata().elements[seg as usize].items {
            ElemItems::Functions(fs) => self.funcref_address(fs[i]),
            // Cannot fail: the expression creates no object.
            ElemItems::Exprs(es) => self.eval(&es[i]).map_or(0, |v| v.get_u64()),
        }
    }

    /// Marks active and declared element segments dropped, as they are
    /// after instantiation.
    fn reset_dropped_elems(&mut self) {
        let data = self.module.metadata();
        self.buf.dropped_elems.clear();
        self.buf.dropped_elems.extend(
            data.elements
                .iter()
                .map(|seg| !matches!(seg.kind, ElemSegmentKind::Passive)),
        );
    }

    fn setup_tables(&mut self) -> Result<(), Error> {
        let module = self.module_ref();
        let data = module.metadata();
        let cacheable = module.constant_elements() && self.bound_imports.is_none();
        if cacheable && self.buf.snapshot_for == module.id() {
            // The same module was here before: restore the tables it wrote.
            let buf: &mut super::InstanceBuffers = &mut self.buf;
            for (t, initial) in buf.tables.iter_mut().zip(&buf.table_snapshot) {
                if t.def.written == 0 {
                    continue;
                }
                t.def.written = 0;
                t.elements.clear();
                t.elements.extend_from_slice(initial);
                t.def.base = t.elements.as_mut_ptr();
                t.def.len = t.elements.len() as u32;
            }
            // SAFETY: the header was written by `write_header`.
            unsafe { (*self.header()).tables = self.buf.table_ptrs.as_ptr() };
            self.reset_dropped_elems();
            return Ok(());
        }
        self.buf.snapshot_for = 0;
        self.buf.tables.clear();
        self.buf.table_refs.clear();
        let this = self as *mut Instance;
        let mut imported = self.imports().tables().iter();
        for t in &data.tables {
            if t.import.is_some() {
                let r = imported.next().expect("resolved with the module");
                self.buf.table_refs.push(TableRef {
                    owner: r.owner,
                    index: r.index,
                });
                continue;
            }
            let init = match &t.init {
                Some(e) => self.eval(e)?.get_u64(),
                None => 0,
            };
            let mut elements = vec![init; t.min as usize];
            let def = Box::new(TableDef {
                base: elements.as_mut_ptr(),
                len: t.min as u32,
                written: 0,
            });
            let index = self.buf.tables.len();
            self.buf.table_refs.push(TableRef { owner: this, index });
            self.buf.tables.push(Table {
                def,
                elements,
                // Within u32 (`check_fits` bounded the minimum, and the
                // budget bounds growth).
                max: t.max.unwrap_or(u64::MAX).min(u64::from(u32::MAX)) as u32,
                ty: t.elem,
                declared_max: t.max,
                table64: t.table64,
            });
        }
        let ptrs: Vec<*mut TableDef> = (0..self.buf.table_refs.len())
            .map(|t| &mut *self.table_mut(t as u32).def as *mut TableDef)
            .collect();
        self.buf.table_ptrs = ptrs;
        // SAFETY: the header was written by `write_header`.
        unsafe { (*self.header()).tables = self.buf.table_ptrs.as_ptr() };

        for (index, seg) in data.elements.iter().enumerate() {
            if let ElemSegmentKind::Active { table, offset } = &seg.kind {
                let table64 = data.tables.get(*table as usize).is_some_and(|t| t.table64);
                let offset = self.eval(offset)?;
                let offset = if table64 {
                    offset.get_u64()
                } else {
                    u64::from(offset.get_u32())
                };
                let n = seg.items.len();
                let len = self.table_mut(*table).elements.len() as u64;
                let Some(end) = offset.checked_add(n as u64).filter(|end| *end <= len) else {
                    return Err(trap_at_instantiation(TrapCode::TableOutOfBounds));
                };
                let items: Vec<u64> = (0..n).map(|i| self.elem_item(index as u32, i)).collect();
                let t = self.table_mut(*table);
                t.elements[offset as usize..end as usize].copy_from_slice(&items);
            }
        }
        self.reset_dropped_elems();
        if cacheable {
            let snapshot = self.buf.tables.iter().map(|t| t.elements.clone()).collect();
            self.buf.table_snapshot = snapshot;
            self.buf.snapshot_for = module.id();
        }
        Ok(())
    }

    fn apply_data_segments(&mut self) -> Result<(), Error> {
        let module = self.module_ref();
        let data = module.metadata();
        self.buf.dropped_data.clear();
        self.buf
            .dropped_data
            .resize(data.data_segments.len(), false);
        for (i, seg) in data.data_segments.iter().enumerate() {
            let Some(offset) = &seg.active_offset else {
                continue;
            };
            self.buf.dropped_data[i] = true;
            if seg.in_image {
                continue;
            }
            let memory64 = data
                .memories
                .get(seg.memory as usize)
                .is_some_and(|m| m.memory64);
            let offset = self.eval(offset)?;
            let offset = if memory64 {
                offset.get_u64()
            } else {
                u64::from(offset.get_u32())
            };
            let memory = self.memory_at_mut(seg.memory);
            let Some(end) = offset
                .checked_add(seg.bytes.len() as u64)
                .filter(|end| *end <= memory.len() as u64)
            else {
                return Err(trap_at_instantiation(TrapCode::HeapOutOfBounds));
            };
            memory[offset as usize..end as usize].copy_from_slice(&seg.bytes);
        }
        Ok(())
    }
}
