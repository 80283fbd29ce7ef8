//! Regions: address space reserved up front and carved into slots, one slot
//! per live instance.
//!
//! A slot holds everything an instance owns, Lucet-style:
//!
//! ```text
//! [instance page | heap reservation + guard | guard | stack | globals | GC heap]
//! ```
//!
//! The instance page holds the runtime's `Instance` at its start and the
//! `InstanceHeader` that generated code reads at its end, directly below the
//! heap, so `vmctx` (the heap base) reaches both. The heap stays inaccessible
//! except for the pages the instance's memory currently spans. The guard
//! below the stack catches overflow of host code running on the guest stack;
//! guest code never gets that far because its stack limit sits above.
//!
//! Signal stacks belong to threads, not slots (`sys::signals`): a slot's
//! instance may run on any thread, and a per-thread stack needs no system
//! call per context switch. With no signal stack in it, a slot is three
//! mappings at rest: the inaccessible heap reservation, and one read-write
//! mapping made of its stack, globals and GC heap and the next slot's
//! instance page. The GC heap needs no guard: generated code allocates in
//! it only after checking the object fits, and reaches objects only at
//! offsets inside them (array indices are checked against the length).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{self as instance, InstanceBuffers, InstanceHandle, KillState};
use crate::module::Module;
use crate::sys::mmap::{self, Protection};
use crate::sys::signals;
use crate::{EmbedCtx, Error, Limits};

/// Offsets and sizes of the parts of a slot (all page-aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotLayout {
    /// Size of the instance page.
    pub instance_page: usize,
    /// Offset of the heap (and `vmctx`).
    pub heap: usize,
    /// Heap address space (reservation + guard).
    pub heap_space: usize,
    /// Offset of the stack's lowest byte.
    pub stack: usize,
    /// Stack size.
    pub stack_size: usize,
    /// Offset of the globals area.
    pub globals: usize,
    /// Globals area size.
    pub globals_size: usize,
    /// Offset of the GC heap.
    pub gc_heap: usize,
    /// GC heap size.
    pub gc_heap_size: usize,
    /// Total size of a slot.
    pub size: usize,
}

impl SlotLayout {
    /// The layout for `limits` (already validated).
    pub fn new(limits: &Limits) -> SlotLayout {
        let page = mmap::page_size();
        let instance_page = page;
        let heap = instance_page;
        let heap_space = limits.heap_address_space_size as usize;
        let stack = heap + heap_space + page;
        let stack_size = limits.stack_size as usize;
        let globals = stack + stack_size;
        let globals_size = limits.globals_size as usize;
        let gc_heap = globals + globals_size;
        let gc_heap_size = limits.gc_heap_size as usize;
        SlotLayout {
            instance_page,
            heap,
            heap_space,
            stack,
            stack_size,
            globals,
            globals_size,
            gc_heap,
            gc_heap_size,
            size: gc_heap + gc_heap_size,
        }
    }
}

/// The addresses of one slot.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Index in the region.
    pub index: usize,
    /// First byte of the slot (the instance page).
    pub base: *mut u8,
    /// The region's layout.
    pub layout: SlotLayout,
}

impl Slot {
    /// Base of linear memory: `vmctx`.
    pub fn heap(&self) -> *mut u8 {
        self.base.wrapping_add(self.layout.heap)
    }
    /// Lowest byte of the stack.
    pub fn stack_bottom(&self) -> *mut u8 {
        self.base.wrapping_add(self.layout.stack)
    }
    /// One past the highest byte of the stack.
    pub fn stack_top(&self) -> *mut u8 {
        self.base
            .wrapping_add(self.layout.stack + self.layout.stack_size)
    }
    /// The globals area.
    pub fn globals(&self) -> *mut u8 {
        self.base.wrapping_add(self.layout.globals)
    }
    /// The first byte of the GC heap.
    pub fn gc_heap(&self) -> *mut u8 {
        self.base.wrapping_add(self.layout.gc_heap)
    }
}

/// Memory mappings a slot needs: its read-write part (stack, globals and the
/// next slot's instance page) and its inaccessible heap reservation. An
/// instance's accessible heap merges with the read-write part; a memory
/// image too large to copy (`module::COPY_IMAGE_LIMIT`) adds two per chunk
/// while an instance of that module is in the slot.
pub const MAPPINGS_PER_SLOT: usize = 2;

/// Fails if `slots` more slots would not fit under `vm.max_map_count`.
fn check_map_count(slots: usize) -> Result<(), Error> {
    let (Some(max), Some(now)) = (mmap::max_map_count(), mmap::map_count()) else {
        return Ok(());
    };
    let needed = slots.saturating_mul(MAPPINGS_PER_SLOT);
    if now.saturating_add(needed) > max {
        return Err(Error::LimitsExceeded(format!(
            "a region of {slots} slots needs {needed} memory mappings and this process has {now} of at most {max}: raise vm.max_map_count (sysctl -w vm.max_map_count={})",
            (now + needed).saturating_mul(2).next_power_of_two()
        )));
    }
    Ok(())
}

/// The state of a slot's heap between the instances it holds.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SlotMemory {
    /// Bytes from the heap base that are accessible (read-write).
    pub mapped: u64,
    /// The module whose initial memory the heap holds, exactly (0: unknown,
    /// the heap must be decommitted before use).
    pub clean_for: u64,
}

/// What a slot keeps between the instances it holds.
pub(crate) struct SlotState {
    /// Shared with the kill switches of the slot's runs.
    pub kill: Arc<KillState>,
    /// Owned by the slot's current holder (the free list hands a slot to
    /// one holder at a time).
    pub memory: UnsafeCell<SlotMemory>,
    /// Host-side storage lent to the slot's instances (same ownership).
    pub buffers: UnsafeCell<InstanceBuffers>,
    /// Address spaces for the memories other than memory 0 that the slot's
    /// instances define, reserved on first use (same ownership).
    pub extra_heaps: UnsafeCell<Vec<*mut u8>>,
}

/// A free slot: since when, and whether it may still hold resident pages
/// (`Limits::keep_resident`).
#[derive(Debug, Clone, Copy)]
struct FreeSlot {
    index: usize,
    since: Instant,
    resident: bool,
}

/// The free slots, the most recently freed last: a new instance takes the
/// last one, whose pages are most likely still resident and cached, and
/// the first ones are those idle longest ([`MmapRegion::trim_idle`]).
type FreeSlots = VecDeque<FreeSlot>;

/// A region of slots backed by one anonymous mapping.
pub struct MmapRegion {
    base: *mut u8,
    total: usize,
    capacity: usize,
    layout: SlotLayout,
    limits: Limits,
    free: Mutex<FreeSlots>,
    states: Box<[SlotState]>,
    this: Weak<MmapRegion>,
}

// SAFETY: the mapping is owned by the region; slots are handed out to one
// instance at a time through the mutex-protected free list.
unsafe impl Send for MmapRegion {}
// SAFETY: as above; shared access only reads immutable fields or locks.
unsafe impl Sync for MmapRegion {}

impl std::fmt::Debug for MmapRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapRegion")
            .field("capacity", &self.capacity)
            .field("limits", &self.limits)
            .finish()
    }
}

/// `n` bytes in the largest binary unit that keeps it whole or above one.
fn binary_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut value = n as f64;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The error for a region larger than the address space it must fit in,
/// with what to do instead.
fn address_space_exceeded(slots: usize, slot_size: usize, total: usize, space: u64) -> Error {
    Error::LimitsExceeded(format!(
        "{slots} slots of {} need {} of address space, and this machine's user address space is {} ({}-bit): \
         use fewer slots, or a smaller heap layout (modules compiled with lucetc --reserved-size 1GiB --guard-size 64KiB, \
         and Limits::heap_address_space_size to match)",
        binary_size(slot_size as u64),
        binary_size(total as u64),
        binary_size(space),
        space.trailing_zeros()
    ))
}

impl MmapRegion {
    /// Reserves address space for `slots` instances with `limits`.
    pub fn create(slots: usize, limits: &Limits) -> Result<Arc<MmapRegion>, Error> {
        limits.validate()?;
        if slots == 0 {
            return Err(Error::InvalidLimits(
                "a region needs at least one slot".into(),
            ));
        }
        signals::install(instance::classify_fault)?;
        if !mmap::discard_zeroes() {
            return Err(Error::System(
                "madvise(MADV_DONTNEED) does not zero memory on this system (a user-mode emulator older than qemu 8.1?): reset instances would see their predecessors' memory".into(),
            ));
        }
        let layout = SlotLayout::new(limits);
        let total = slots.checked_mul(layout.size).ok_or_else(|| {
            Error::LimitsExceeded(format!(
                "{slots} slots of {} bytes do not fit in the address space",
                layout.size
            ))
        })?;
        let space = mmap::user_address_space();
        if let Some(space) = space.filter(|space| total as u64 > *space) {
            return Err(address_space_exceeded(slots, layout.size, total, space));
        }
        check_map_count(slots)?;
        let base = mmap::reserve(total).map_err(|e| match space {
            Some(space) if total as u64 > space / 2 => {
                address_space_exceeded(slots, layout.size, total, space)
            }
            _ => Error::LimitsExceeded(format!(
                "cannot reserve {total} bytes for {slots} slots of {} bytes: {e}",
                layout.size
            )),
        })?;
        let region = Arc::new_cyclic(|this| MmapRegion {
            base,
            total,
            capacity: slots,
            layout,
            limits: limits.clone(),
            free: Mutex::new(
                (0..slots)
                    .rev()
                    .map(|index| FreeSlot {
                        index,
                        since: Instant::now(),
                        resident: false,
                    })
                    .collect(),
            ),
            states: (0..slots)
                .map(|_| SlotState {
                    kill: KillState::new(),
                    memory: UnsafeCell::new(SlotMemory::default()),
                    buffers: UnsafeCell::new(InstanceBuffers::default()),
                    extra_heaps: UnsafeCell::new(Vec::new()),
                })
                .collect(),
            this: this.clone(),
        });
        for i in 0..slots {
            let slot = region.slot(i);
            // SAFETY: every range lies inside the region's own reservation.
            unsafe {
                mmap::protect(slot.base, layout.instance_page, Protection::ReadWrite)?;
                mmap::protect(
                    slot.stack_bottom(),
                    layout.stack_size + layout.globals_size + layout.gc_heap_size,
                    Protection::ReadWrite,
                )?;
            }
        }
        Ok(region)
    }

    fn slot(&self, index: usize) -> Slot {
        Slot {
            index,
            base: self.base.wrapping_add(index * self.layout.size),
            layout: self.layout,
        }
    }

    /// The state slot `index` keeps between instances.
    pub(crate) fn slot_state(&self, index: usize) -> &SlotState {
        &self.states[index]
    }

    /// Extra heap `j` of slot `index` (for its instance's memory `j + 1`
    /// or later), reserved on first use.
    pub(crate) fn extra_heap(&self, index: usize, j: usize) -> Result<*mut u8, Error> {
        // SAFETY: the slot's state belongs to the slot's holder, the
        // instance asking.
        let heaps = unsafe { &mut *self.states[index].extra_heaps.get() };
        while heaps.len() <= j {
            let base = mmap::reserve(self.layout.heap_space).map_err(|e| {
                Error::LimitsExceeded(format!(
                    "cannot reserve {} bytes of address space for another memory: {e}",
                    self.layout.heap_space
                ))
            })?;
            heaps.push(base);
        }
        Ok(heaps[j])
    }

    /// The region's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many instances the region holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many slots are free.
    pub fn free_slots(&self) -> usize {
        self.free_list().len()
    }

    /// How many slots hold live instances.
    pub fn used_slots(&self) -> usize {
        self.capacity - self.free_slots()
    }

    /// Instantiates `module` in a free slot and runs its start function.
    pub fn new_instance(&self, module: Arc<Module>) -> Result<InstanceHandle, Error> {
        self.new_instance_builder(module).build()
    }

    /// An instance builder, for adding embedder context before the start
    /// function runs.
    pub fn new_instance_builder(&self, module: Arc<Module>) -> InstanceBuilder<'_> {
        InstanceBuilder {
            region: self,
            module,
            embed_ctx: EmbedCtx::default(),
            fuel: None,
            defer_start: false,
            links: Vec::new(),
        }
    }

    fn free_list(&self) -> std::sync::MutexGuard<'_, FreeSlots> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_slot(&self) -> Result<Slot, Error> {
        let free = self
            .free_list()
            .pop_back()
            .ok_or(Error::RegionFull(self.capacity))?;
        Ok(self.slot(free.index))
    }

    /// Returns a slot whose instance has been dropped and its heap reset.
    pub(crate) fn return_slot(&self, index: usize) {
        self.free_list().push_back(FreeSlot {
            index,
            since: Instant::now(),
            resident: true,
        });
    }

    /// Gives back to the system the pages that free slots keep resident
    /// (`Limits::keep_resident`: their heap's window, their stack and
    /// GC heap) once they have been free for `idle`, at most `max` slots
    /// per call, those idle longest first: after a burst, the memory its
    /// instances touched is not held for ever. A slot keeps its state: the
    /// next instance of the same module finds its heap as the module's
    /// initial memory (image pages read as the file again, the others as
    /// zero). Returns how many slots gave their pages back.
    ///
    /// The slots being trimmed are out of the free list meanwhile: an
    /// instance created at the same time on another thread may find the
    /// region full.
    pub fn trim_idle(&self, idle: Duration, max: usize) -> usize {
        let Some(cutoff) = Instant::now().checked_sub(idle) else {
            return 0;
        };
        let mut taken = Vec::new();
        self.free_list().retain(|f| {
            let take = taken.len() < max && f.resident && f.since <= cutoff;
            if take {
                taken.push(*f);
            }
            !take
        });
        let page = mmap::page_size();
        let window = (self.limits.keep_resident as usize)
            .next_multiple_of(page)
            .min(self.layout.heap_space);
        let gc_kept = (self.limits.keep_resident as usize)
            .next_multiple_of(page)
            .min(self.layout.gc_heap_size);
        let mut trimmed = 0;
        for slot in &mut taken {
            let s = self.slot(slot.index);
            // SAFETY: the slot is out of the free list and holds no
            // instance, so nothing refers into its memory; the ranges lie
            // in its reservation. Discarded pages read as zero (anonymous)
            // or as the module's image (its private file mappings), which
            // is the state a reset heap is in past the window.
            let gave_back = unsafe {
                mmap::discard(s.heap(), window)
                    .and_then(|()| mmap::discard(s.stack_bottom(), self.layout.stack_size))
                    .and_then(|()| mmap::discard(s.gc_heap(), gc_kept))
            };
            if gave_back.is_ok() {
                slot.resident = false;
                trimmed += 1;
            }
        }
        let mut free = self.free_list();
        // Back at the front, as the slots idle longest: taken last.
        for slot in taken.into_iter().rev() {
            free.push_front(slot);
        }
        trimmed
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: instances hold an `Arc` to their region, so when it drops no
        // instance (and no reference into the mapping) is left.
        unsafe { mmap::unmap(self.base, self.total) };
        for state in self.states.iter_mut() {
            for base in state.extra_heaps.get_mut().drain(..) {
                // SAFETY: as above; each extra heap is a reservation of the
                // slot's heap address space that only the slot used.
                unsafe { mmap::unmap(base, self.layout.heap_space) };
            }
        }
    }
}

/// Builds an instance: set its embedder context, then [`build`](Self::build).
pub struct InstanceBuilder<'a> {
    region: &'a MmapRegion,
    module: Arc<Module>,
    embed_ctx: EmbedCtx,
    fuel: Option<u64>,
    defer_start: bool,
    links: Vec<(&'a str, &'a InstanceHandle)>,
}

impl<'a> InstanceBuilder<'a> {
    /// Binds the imports from `module` (named with `Linker::instance_module`
    /// when the module was loaded) to the exports of `instance`: the new
    /// instance calls its functions and shares its memories, tables and
    /// globals. The two then belong to one link group, which lives until the
    /// last of its handles is dropped and is used only on this thread.
    /// Names the module does not import from are ignored.
    pub fn link(mut self, module: &'a str, instance: &'a InstanceHandle) -> Self {
        self.links.push((module, instance));
        self
    }

    /// Gives the instance `fuel` units from the start: its start function
    /// counts against them (see `InstanceHandle::set_fuel`). Building fails
    /// for a module compiled without instruction counting.
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// Adds a value to the instance's embedder context.
    pub fn with_embed_ctx<T: std::any::Any + Send>(mut self, value: T) -> Self {
        self.embed_ctx.insert(value);
        self
    }

    /// Leaves the module's start function for `InstanceHandle::run_start`,
    /// so that the instance's kill switch exists before any guest code
    /// runs (a start function that never ends can then be stopped).
    pub fn defer_start(mut self) -> Self {
        self.defer_start = true;
        self
    }

    /// Creates the instance and runs the module's start function (unless
    /// deferred).
    pub fn build(self) -> Result<InstanceHandle, Error> {
        let region = self
            .region
            .this
            .upgrade()
            .ok_or(Error::InvalidState("the region is being dropped"))?;
        instance::check_fits(&self.module, &region.limits, &region.layout)?;
        if self.fuel.is_some() {
            self.module.check_counts_instructions()?;
        }
        let bound_imports = match self.module.resolved_imports() {
            Some(_) => None,
            None => Some(Box::new(instance::bind_imports(&self.module, &self.links)?)),
        };
        let slot = region.take_slot()?;
        instance::instantiate(
            region,
            slot,
            self.module,
            self.embed_ctx,
            self.fuel,
            self.defer_start,
            bound_imports,
        )
    }
}
