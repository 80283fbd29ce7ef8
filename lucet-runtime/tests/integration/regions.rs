use lucet_runtime::{Error, Limits, MmapRegion};

use crate::common::*;

#[test]
fn a_full_region_is_an_error() {
    let region = MmapRegion::create(2, &Limits::default()).unwrap();
    let module = load("memory");
    let a = region.new_instance(module.clone()).unwrap();
    let _b = region.new_instance(module.clone()).unwrap();
    assert_eq!(region.free_slots(), 0);
    assert!(matches!(
        region.new_instance(module.clone()),
        Err(Error::RegionFull(2))
    ));
    drop(a);
    region.new_instance(module).unwrap();
}

#[test]
fn limits_are_checked() {
    let bad = Limits {
        stack_size: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        MmapRegion::create(1, &bad),
        Err(Error::InvalidLimits(_))
    ));
    assert!(MmapRegion::create(0, &Limits::default()).is_err());
}

#[test]
fn a_module_must_fit_the_region() {
    // Compiled for 4 GiB + 4 GiB; this region only has 1 GiB per heap.
    let small = Limits {
        heap_address_space_size: 1 << 30,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &small).unwrap();
    let err = region.new_instance(load("memory")).unwrap_err();
    assert!(matches!(err, Error::LimitsExceeded(_)), "{err}");
    // Initial memory above the region's heap limit.
    let tiny = Limits {
        heap_memory_size: 64 << 10,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &tiny).unwrap();
    let mut linker = lucet_runtime::Linker::new();
    linker.global("env", "base", lucet_runtime::Val::I32(0), false);
    let err = region.new_instance(load_with("data", &linker)).unwrap_err();
    assert!(
        err.to_string()
            .contains("needs 262144 bytes of initial memory"),
        "{err}"
    );
}

#[test]
fn a_region_larger_than_the_address_space_says_what_to_do() {
    // 40,000 slots of the default layout (a 4 GiB heap reservation and a
    // 4 GiB guard each) need over 300 TiB: more than a 47- or 48-bit user
    // address space (128 or 256 TiB), let alone a 39-bit one.
    let Err(err) = MmapRegion::create(40_000, &Limits::default()) else {
        panic!("no machine has that much address space");
    };
    let text = err.to_string();
    assert!(matches!(err, Error::LimitsExceeded(_)), "{text}");
    assert!(
        text.contains("40000 slots of 8.0 GiB need 312.") && text.contains("user address space is"),
        "{text}"
    );
    assert!(text.contains("lucetc --reserved-size"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    // The suggested layout fits.
    let small = Limits {
        heap_address_space_size: (1 << 30) + (64 << 10),
        ..Limits::default()
    };
    MmapRegion::create(16, &small).unwrap();
}

/// How many of the `len` bytes at `addr` are in resident pages.
fn resident_pages(addr: *const u8, len: usize) -> usize {
    let page = 4096;
    let mut states = vec![0u8; len.div_ceil(page)];
    // SAFETY: the range is mapped (a region's slot), and `states` has a
    // byte per page.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, len, states.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore");
    states.iter().filter(|s| *s & 1 != 0).count()
}

#[test]
fn idle_slots_give_back_the_pages_they_keep() {
    use std::time::Duration;
    let limits = Limits {
        keep_resident: 1 << 20,
        ..Limits::default()
    };
    let region = MmapRegion::create(1, &limits).unwrap();
    let module = load("memory");
    let mut inst = region.new_instance(module.clone()).unwrap();
    let heap = inst.heap_mut();
    let len = heap.len().min(64 << 10);
    heap[..len].fill(7);
    let at = heap.as_ptr();
    drop(inst);
    // Within the window, the pages stay resident (zeroed).
    assert_eq!(resident_pages(at, len), len / 4096);
    // Not idle long enough: kept.
    assert_eq!(region.trim_idle(Duration::from_secs(3600), 8), 0);
    assert_eq!(resident_pages(at, len), len / 4096);
    // Idle long enough: given back, once.
    assert_eq!(region.trim_idle(Duration::ZERO, 8), 1);
    assert_eq!(resident_pages(at, len), 0);
    assert_eq!(region.trim_idle(Duration::ZERO, 8), 0);
    assert_eq!(region.free_slots(), 1);
    // The slot serves the next instance, whose memory is zero.
    let inst = region.new_instance(module).unwrap();
    assert_eq!(inst.heap().as_ptr(), at);
    assert!(inst.heap().iter().all(|&b| b == 0));
}
