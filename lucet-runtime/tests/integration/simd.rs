use lucet_runtime::{Linker, Val::*, Vmctx};

use crate::common::*;

fn lanes(l: [u32; 4]) -> u128 {
    l.iter()
        .enumerate()
        .fold(0u128, |acc, (i, x)| acc | (*x as u128) << (32 * i))
}

#[test]
fn v128_values_cross_every_boundary() {
    let mut linker = Linker::new();
    linker.func("env", "swap_halves", |_: &mut Vmctx, v: u128| {
        v.rotate_left(64)
    });
    let mut inst = region().new_instance(load_with("simd", &linker)).unwrap();
    let a = lanes([1, 2, 3, u32::MAX]);
    let b = lanes([10, 20, 30, 2]);
    assert_eq!(
        call(&mut inst, "add", &[V128(a), V128(b)]),
        V128(lanes([11, 22, 33, 1]))
    );
    assert_eq!(
        call(&mut inst, "via_host", &[V128(a)]),
        V128(lanes([3, u32::MAX, 1, 2]))
    );
    assert_eq!(call(&mut inst, "global", &[]), V128(lanes([1, 2, 3, 4])));
    assert_eq!(call(&mut inst, "roundtrip_memory", &[V128(b)]), V128(b));
    // (1*3 + 2*4) in 16-bit lanes 0 and 1.
    let x = 1u128 | 2 << 16;
    let y = 3u128 | 4 << 16;
    assert_eq!(i32(&mut inst, "dot", &[V128(x), V128(y)]), 11);
}
