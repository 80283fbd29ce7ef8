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
