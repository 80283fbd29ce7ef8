//! Per-slot limits of a region.

use crate::module::Module;
use crate::Error;

/// The default address space of a slot's heap: 4 GiB reserved and a 4 GiB
/// guard, what `lucetc` compiles for by default.
const DEFAULT_HEAP_ADDRESS_SPACE: u64 = 8 << 30;

/// The garbage collector of instances' GC heaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GcAlgorithm {
    /// Copying (Cheney) between two halves of the heap: a collection costs
    /// what survives, and half the heap is the copy reserve. The default.
    #[default]
    Copying,
    /// Mark-compact (sliding) over the whole heap: live objects may fill
    /// all of it, and a collection costs two walks of the roots and one
    /// of the heap.
    MarkCompact,
}

/// How much memory each instance of a region may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory an instance may have (bytes), all the memories
    /// it defines together: instantiation refuses a module whose memories
    /// need more at the start, and `memory.grow` past it fails.
    pub heap_memory_size: u64,
    /// Address space for linear memory: the reservation plus the guard that
    /// modules are compiled for must fit in it.
    pub heap_address_space_size: u64,
    /// Size of the guest's native stack.
    pub stack_size: u64,
    /// Size of the globals area (16 bytes per global).
    pub globals_size: u64,
    /// Size of each instance's GC heap, where its structs and arrays live.
    /// It is part of the slot (address space taken whether or not a module
    /// uses GC; memory only once objects are allocated). The copying
    /// collector uses it as two halves, so live objects may take half of
    /// it (mark-compact: all of it); an allocation that does not fit even
    /// after a collection, or whose collection leaves less than a sixteenth
    /// of the space free, traps with `GcHeapExhausted`.
    pub gc_heap_size: u64,
    /// How the GC heap is collected.
    pub gc_algorithm: GcAlgorithm,
    /// How much of a heap stays resident between instances of the same
    /// module: when an instance goes, this many bytes from the heap base are
    /// zeroed in place (cheap for memory the guest touched, and the next
    /// instance finds the pages mapped); the rest is given back to the
    /// system.
    pub keep_resident: u64,
    /// Most linear memories an instance may have (multi-memory). Memory 0
    /// lives in the slot's heap; each further one takes another
    /// `heap_address_space_size` of address space, reserved the first time
    /// a slot needs it.
    pub max_memories: u32,
    /// Most tables an instance may define (imported tables count for the
    /// instance that defines them).
    pub max_tables: u32,
    /// Most table elements an instance's own tables may hold together, at
    /// instantiation and after every `table.grow` (which returns -1 past
    /// it); each element takes 8 bytes of host memory.
    pub max_table_elements: u64,
    /// Most bytes of live exceptions an instance may hold (each takes about
    /// 64 bytes plus 16 per payload value); past it, after collecting the
    /// dead ones (or when that collection leaves less than a sixteenth of it
    /// free), a throw traps with `ExceptionStorageExhausted`.
    pub max_exception_bytes: u64,
    /// Smallest signal stack a thread that runs this region's guests must
    /// have; the runtime gives each such thread one, once, if its own is
    /// smaller.
    pub signal_stack_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            heap_memory_size: 1 << 20,
            heap_address_space_size: DEFAULT_HEAP_ADDRESS_SPACE,
            stack_size: 128 << 10,
            globals_size: 4 << 10,
            gc_heap_size: 1 << 20,
            gc_algorithm: GcAlgorithm::Copying,
            keep_resident: 64 << 10,
            max_memories: 16,
            max_tables: 100,
            max_table_elements: 1_000_000,
            max_exception_bytes: 1 << 20,
            signal_stack_size: default_signal_stack_size(),
        }
    }
}

/// 8 KiB, or more where this machine's kernel needs more room for a signal
/// frame (large vector state), rounded up to pages.
fn default_signal_stack_size() -> u64 {
    let min = crate::sys::signals::min_signal_stack_size() as u64 + (4 << 10);
    min.max(8 << 10).next_multiple_of(4096)
}

impl Limits {
    /// Checks sizes are page multiples and consistent.
    pub fn validate(&self) -> Result<(), Error> {
        let page = crate::sys::mmap::page_size() as u64;
        let check = |name: &str, v: u64| {
            if v % page != 0 {
                Err(Error::InvalidLimits(format!(
                    "{name} ({v}) is not a multiple of the page size ({page})"
                )))
            } else {
                Ok(())
            }
        };
        check("heap_memory_size", self.heap_memory_size)?;
        check("heap_address_space_size", self.heap_address_space_size)?;
        check("stack_size", self.stack_size)?;
        check("globals_size", self.globals_size)?;
        check("gc_heap_size", self.gc_heap_size)?;
        check("signal_stack_size", self.signal_stack_size)?;
        if self.heap_memory_size > self.heap_address_space_size {
            return Err(Error::InvalidLimits(format!(
                "heap_memory_size ({}) is larger than heap_address_space_size ({})",
                self.heap_memory_size, self.heap_address_space_size
            )));
        }
        if self.max_memories == 0 {
            return Err(Error::InvalidLimits(
                "max_memories must be at least 1".into(),
            ));
        }
        if self.max_table_elements > u64::from(u32::MAX) {
            return Err(Error::InvalidLimits(format!(
                "max_table_elements ({}) is above the most a table can have ({})",
                self.max_table_elements,
                u32::MAX
            )));
        }
        if self.stack_size < 2 * page {
            return Err(Error::InvalidLimits(format!(
                "stack_size ({}) must be at least two pages",
                self.stack_size
            )));
        }
        let min_sigstack = crate::sys::signals::min_signal_stack_size() as u64;
        if self.signal_stack_size < min_sigstack {
            return Err(Error::InvalidLimits(format!(
                "signal_stack_size ({}) is below this machine's minimum ({min_sigstack})",
                self.signal_stack_size
            )));
        }
        Ok(())
    }

    /// Stack kept free below the guest's stack limit for host functions,
    /// which run on the guest's stack: a quarter of the stack, between 8 and
    /// 32 KiB.
    pub fn host_stack_reserve(&self) -> u64 {
        (self.stack_size / 4).clamp(8 << 10, 32 << 10)
    }
}

impl Limits {
    /// These limits fitted to `module`: the heap address space is what the
    /// module's code was compiled to expect (its memory's reservation and
    /// guard, and at least the default 8 GiB), the heap size is rounded up
    /// to whole WebAssembly pages and kept within that space, and the stack
    /// is rounded up to whole pages. Embedders size a region for the
    /// modules it will run with this, without reading their metadata.
    pub fn sized_for(&self, module: &Module) -> Limits {
        let space = module
            .heap_address_space()
            .map_or(DEFAULT_HEAP_ADDRESS_SPACE, |s| {
                s.max(DEFAULT_HEAP_ADDRESS_SPACE)
            });
        Limits {
            heap_memory_size: self
                .heap_memory_size
                .checked_next_multiple_of(lucet_module::WASM_PAGE_SIZE)
                .unwrap_or(space)
                .min(space),
            heap_address_space_size: space,
            stack_size: self
                .stack_size
                .checked_next_multiple_of(lucet_module::PAGE_SIZE)
                .unwrap_or(self.stack_size),
            ..self.clone()
        }
    }
}
