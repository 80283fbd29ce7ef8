//! `lucet_region`: address space for a fixed number of instances, each in
//! a slot sized by `lucet_limits`.

use std::sync::Arc;

use lucet_runtime::{GcAlgorithm, Limits, MmapRegion};

use crate::error::{clear_out, deref, ffi, lucet_error, write_handle, write_out, Error};

/// A region of instance slots.
#[allow(non_camel_case_types)]
pub struct lucet_region {
    pub(crate) region: Arc<MmapRegion>,
}

/// The size of each slot of a region: the C form of the runtime's
/// `Limits`, field for field (the conversions below name every field of
/// both, so that neither can gain one the other lacks). Sizes are in bytes
/// and must be multiples of the page size. Fill it with
/// `lucet_limits_default` and change what you need, so that fields added
/// later get their defaults.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lucet_limits {
    /// Most linear memory an instance may have, all its memories together (default 1 MiB).
    pub heap_memory_size: u64,
    /// Address space for linear memory: the reservation plus the guard the
    /// modules were compiled for (`lucetc --reserved-size`, default 4 GiB +
    /// 4 GiB guard) must fit in it (default 8 GiB).
    pub heap_address_space_size: u64,
    /// The guest's native stack, which host functions share (default
    /// 128 KiB).
    pub stack_size: u64,
    /// The globals area, 16 bytes per global (default 4 KiB).
    pub globals_size: u64,
    /// Bytes from the heap base kept resident and zeroed in place between
    /// instances; the rest goes back to the system (default 64 KiB).
    pub keep_resident: u64,
    /// Most linear memories an instance may have (default 16).
    pub max_memories: u32,
    /// Most tables an instance may define (default 100).
    pub max_tables: u32,
    /// Most table elements an instance's tables may hold together
    /// (default 1,000,000).
    pub max_table_elements: u64,
    /// Most bytes of live exceptions an instance may hold (default 1 MiB).
    pub max_exception_bytes: u64,
    /// Smallest signal stack a thread that runs this region's guests needs;
    /// the runtime installs one per thread if the thread's is smaller.
    pub signal_stack_size: u64,
    /// Each instance's GC heap, for its structs and arrays (default 1 MiB).
    pub gc_heap_size: u64,
    /// How the GC heap is collected: `LUCET_GC_COPYING` (the default) or
    /// `LUCET_GC_MARK_COMPACT`.
    pub gc_algorithm: lucet_gc_algorithm,
}

/// How an instance's GC heap is collected. A plain integer: an unknown
/// value is an error, not undefined behavior.
#[allow(non_camel_case_types)]
pub type lucet_gc_algorithm = u32;

/// Copying between two halves of the heap: a collection costs what
/// survives; live objects may take half the heap.
pub const LUCET_GC_COPYING: lucet_gc_algorithm = 0;
/// Mark-compact over the whole heap: live objects may fill it; a collection
/// costs more.
pub const LUCET_GC_MARK_COMPACT: lucet_gc_algorithm = 1;

impl From<&Limits> for lucet_limits {
    fn from(l: &Limits) -> Self {
        let Limits {
            heap_memory_size,
            heap_address_space_size,
            stack_size,
            globals_size,
            gc_heap_size,
            gc_algorithm,
            keep_resident,
            max_memories,
            max_tables,
            max_table_elements,
            max_exception_bytes,
            signal_stack_size,
        } = *l;
        lucet_limits {
            heap_memory_size,
            heap_address_space_size,
            stack_size,
            globals_size,
            keep_resident,
            max_memories,
            max_tables,
            max_table_elements,
            max_exception_bytes,
            signal_stack_size,
            gc_heap_size,
            gc_algorithm: match gc_algorithm {
                GcAlgorithm::Copying => LUCET_GC_COPYING,
                GcAlgorithm::MarkCompact => LUCET_GC_MARK_COMPACT,
            },
        }
    }
}

impl TryFrom<&lucet_limits> for Limits {
    type Error = lucet_runtime::Error;

    fn try_from(l: &lucet_limits) -> Result<Self, lucet_runtime::Error> {
        let lucet_limits {
            heap_memory_size,
            heap_address_space_size,
            stack_size,
            globals_size,
            keep_resident,
            max_memories,
            max_tables,
            max_table_elements,
            max_exception_bytes,
            signal_stack_size,
            gc_heap_size,
            gc_algorithm,
        } = *l;
        let gc_algorithm = match gc_algorithm {
            LUCET_GC_COPYING => GcAlgorithm::Copying,
            LUCET_GC_MARK_COMPACT => GcAlgorithm::MarkCompact,
            other => {
                return Err(lucet_runtime::Error::InvalidLimits(format!(
                    "unknown GC algorithm {other}"
                )))
            }
        };
        Ok(Limits {
            heap_memory_size,
            heap_address_space_size,
            stack_size,
            globals_size,
            gc_heap_size,
            gc_algorithm,
            keep_resident,
            max_memories,
            max_tables,
            max_table_elements,
            max_exception_bytes,
            signal_stack_size,
        })
    }
}

/// Fills `*limits` with the defaults. Thread safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn lucet_limits_default(limits: *mut lucet_limits) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a writable pointer or NULL.
        unsafe { write_out(limits, lucet_limits::from(&Limits::default()), "limits") }
    })
}

/// Reserves address space for `slots` instances with `*limits` (the
/// defaults if `limits` is NULL), storing the region in `*out`.
///
/// Errors: `LUCET_ERROR_INVALID_LIMITS` (sizes not page multiples, heap
/// larger than its address space, no slots), `LUCET_ERROR_LIMITS_EXCEEDED`
/// (the address space or `vm.max_map_count` cannot hold them).
///
/// Ownership: the caller owns the region (`lucet_region_free`). Instances
/// keep their region alive, so it may be freed while they live; the address
/// space goes when the last of them is freed. Thread safety: a region may
/// be used from any number of threads at once (instances are created in it
/// concurrently).
#[no_mangle]
pub unsafe extern "C" fn lucet_region_create(
    slots: usize,
    limits: *const lucet_limits,
    out: *mut *mut lucet_region,
) -> lucet_error {
    // SAFETY: the caller passes a writable out-pointer or NULL.
    unsafe { clear_out(out) };
    ffi(|| {
        if out.is_null() {
            return Err(Error::Null("out"));
        }
        let limits = if limits.is_null() {
            Limits::default()
        } else {
            // SAFETY: non-null, a valid `lucet_limits` as the caller
            // guarantees.
            Limits::try_from(unsafe { deref(limits, "limits") }?)?
        };
        let region = MmapRegion::create(slots, &limits)?;
        let region = lucet_region { region };
        // SAFETY: as above.
        unsafe { write_handle(out, region, "out") }
    })
}

/// How many slots of the region are free, in `*out`. Thread safety: any
/// thread (the count may change at once when others create or free
/// instances).
#[no_mangle]
pub unsafe extern "C" fn lucet_region_free_slots(
    region: *const lucet_region,
    out: *mut usize,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a region or NULL, and a writable pointer.
        unsafe {
            let region = deref(region, "region")?;
            write_out(out, region.region.free_slots(), "out")
        }
    })
}

/// Gives back to the system the pages that free slots keep resident
/// (`keep_resident`: their heap's first bytes, stack and GC heap) once they
/// have been free for `idle_ms` milliseconds, at most `max` slots, those
/// idle longest first; how many did, in `*out` (may be NULL). Call it now
/// and then (every second, say) so that a burst of instances does not
/// leave its memory resident for ever. The slots being trimmed are out of
/// the free list meanwhile: an instance created at that moment on another
/// thread may find the region full. Thread safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn lucet_region_trim_idle(
    region: *const lucet_region,
    idle_ms: u64,
    max: usize,
    out: *mut usize,
) -> lucet_error {
    ffi(|| {
        // SAFETY: the caller passes a region or NULL.
        let region = unsafe { deref(region, "region") }?;
        let trimmed = region
            .region
            .trim_idle(std::time::Duration::from_millis(idle_ms), max);
        if !out.is_null() {
            // SAFETY: non-null: a writable pointer, as the caller guarantees.
            unsafe { write_out(out, trimmed, "out") }?;
        }
        Ok(())
    })
}

/// Frees the caller's reference to a region. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lucet_region_free(region: *mut lucet_region) {
    if !region.is_null() {
        // SAFETY: the caller passes a region from `lucet_region_create`, once.
        drop(unsafe { Box::from_raw(region) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_convert_both_ways() {
        let d = Limits::default();
        let c = lucet_limits::from(&d);
        assert_eq!(Limits::try_from(&c).unwrap(), d);
        let mut l = c;
        l.stack_size = 3 * 4096;
        l.max_tables = 3;
        l.gc_algorithm = LUCET_GC_MARK_COMPACT;
        let back = Limits::try_from(&l).unwrap();
        assert_eq!(back.stack_size, 3 * 4096);
        assert_eq!(back.max_tables, 3);
        assert_eq!(back.gc_algorithm, GcAlgorithm::MarkCompact);
        l.gc_algorithm = 7;
        let err = Limits::try_from(&l).unwrap_err();
        assert!(err.to_string().contains("unknown GC algorithm 7"), "{err}");
    }
}
