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
