use lucet_runtime::Val::{self, F32, F64, I32, I64};

use crate::common::*;

#[test]
fn i32_operations() {
    let mut inst = instance("arith");
    let cases: &[(&str, &[Val], i32)] = &[
        ("i32_add", &[I32(i32::MAX), I32(1)], i32::MIN),
        ("i32_sub", &[I32(3), I32(10)], -7),
        ("i32_mul", &[I32(-6), I32(7)], -42),
        ("i32_div_s", &[I32(-7), I32(2)], -3),
        ("i32_div_u", &[I32(-1), I32(2)], 0x7fff_ffff),
        ("i32_rem_s", &[I32(-7), I32(2)], -1),
        ("i32_rem_u", &[I32(7), I32(4)], 3),
        ("i32_rem_s", &[I32(i32::MIN), I32(-1)], 0),
        ("i32_and", &[I32(0b1100), I32(0b1010)], 0b1000),
        ("i32_or", &[I32(0b1100), I32(0b1010)], 0b1110),
        ("i32_xor", &[I32(0b1100), I32(0b1010)], 0b0110),
        ("i32_shl", &[I32(1), I32(33)], 2),
        ("i32_shr_s", &[I32(-16), I32(2)], -4),
        ("i32_shr_u", &[I32(-16), I32(28)], 0xf),
        ("i32_rotl", &[I32(0x8000_0001u32 as i32), I32(1)], 3),
        ("i32_rotr", &[I32(1), I32(1)], i32::MIN),
        ("i32_clz", &[I32(1)], 31),
        ("i32_ctz", &[I32(0)], 32),
        ("i32_popcnt", &[I32(-1)], 32),
        ("i32_eqz", &[I32(0)], 1),
        ("i32_lt_s", &[I32(-1), I32(0)], 1),
        ("i32_lt_u", &[I32(-1), I32(0)], 0),
        ("i32_extend8_s", &[I32(0x80)], -128),
        ("i32_extend16_s", &[I32(0x7fff)], 0x7fff),
        ("i32_wrap_i64", &[I64(0x1_0000_0005)], 5),
        ("i64_ge_u", &[I64(-1), I64(1)], 1),
        ("f32_lt", &[F32(f32::NAN), F32(1.0)], 0),
        ("f64_ge", &[F64(2.0), F64(2.0)], 1),
        ("i32_trunc_f32_s", &[F32(-3.9)], -3),
        ("i32_trunc_sat_f32_s", &[F32(1e20)], i32::MAX),
        ("i32_trunc_sat_f32_s", &[F32(f32::NAN)], 0),
    ];
    for (f, args, expected) in cases {
        assert_eq!(i32(&mut inst, f, args), *expected, "{f}{args:?}");
    }
}

#[test]
fn i64_operations() {
    let mut inst = instance("arith");
    let cases: &[(&str, &[Val], i64)] = &[
        ("i64_add", &[I64(i64::MAX), I64(1)], i64::MIN),
        ("i64_sub", &[I64(0), I64(1)], -1),
        ("i64_mul", &[I64(1 << 40), I64(1 << 30)], 0),
        ("i64_mul", &[I64(-3), I64(1 << 20)], -3 << 20),
        ("i64_div_s", &[I64(-9), I64(4)], -2),
        ("i64_div_u", &[I64(-1), I64(1 << 62)], 3),
        ("i64_rem_s", &[I64(-9), I64(4)], -1),
        ("i64_shr_s", &[I64(i64::MIN), I64(63)], -1),
        ("i64_rotr", &[I64(1), I64(1)], i64::MIN),
        ("i64_clz", &[I64(0)], 64),
        ("i64_popcnt", &[I64(0xff00)], 8),
        ("i64_extend32_s", &[I64(0x8000_0000)], -0x8000_0000),
        ("i64_extend_i32_s", &[I32(-1)], -1),
        ("i64_extend_i32_u", &[I32(-1)], 0xffff_ffff),
        ("i64_reinterpret_f64", &[F64(1.0)], 0x3ff0_0000_0000_0000),
        (
            "i64_trunc_f64_u",
            &[F64(1e19)],
            10_000_000_000_000_000_000u64 as i64,
        ),
        ("i64_trunc_sat_f64_u", &[F64(-5.0)], 0),
        ("i64_trunc_sat_f64_u", &[F64(1e30)], -1),
    ];
    for (f, args, expected) in cases {
        assert_eq!(i64(&mut inst, f, args), *expected, "{f}{args:?}");
    }
}

#[test]
fn f32_operations() {
    let mut inst = instance("arith");
    let cases: &[(&str, &[Val], f32)] = &[
        ("f32_add", &[F32(0.1), F32(0.2)], 0.1f32 + 0.2f32),
        ("f32_sub", &[F32(1.0), F32(3.5)], -2.5),
        ("f32_mul", &[F32(1.5), F32(-4.0)], -6.0),
        ("f32_div", &[F32(1.0), F32(3.0)], 1.0f32 / 3.0),
        ("f32_sqrt", &[F32(2.0)], 2f32.sqrt()),
        ("f32_min", &[F32(-0.0), F32(0.0)], -0.0),
        ("f32_max", &[F32(-1.0), F32(2.0)], 2.0),
        ("f32_abs", &[F32(-3.0)], 3.0),
        ("f32_neg", &[F32(3.0)], -3.0),
        ("f32_copysign", &[F32(3.0), F32(-0.0)], -3.0),
        ("f32_floor", &[F32(-1.5)], -2.0),
        ("f32_ceil", &[F32(-1.5)], -1.0),
        ("f32_trunc", &[F32(-1.5)], -1.0),
        ("f32_nearest", &[F32(2.5)], 2.0),
        ("f32_nearest", &[F32(3.5)], 4.0),
        ("f32_convert_i32_s", &[I32(-16777217)], -16777216.0),
        ("f32_demote_f64", &[F64(1.0 / 3.0)], (1.0f64 / 3.0) as f32),
        ("f32_reinterpret_i32", &[I32(0x3f80_0000)], 1.0),
    ];
    for (f, args, expected) in cases {
        let got = f32(&mut inst, f, args);
        assert_eq!(got.to_bits(), expected.to_bits(), "{f}{args:?}: {got}");
    }
    // min with NaN is NaN (wasm semantics, unlike Rust's f32::min).
    assert!(f32(&mut inst, "f32_min", &[F32(f32::NAN), F32(1.0)]).is_nan());
}

#[test]
fn f64_operations() {
    let mut inst = instance("arith");
    let cases: &[(&str, &[Val], f64)] = &[
        ("f64_add", &[F64(0.1), F64(0.2)], 0.1 + 0.2),
        ("f64_sub", &[F64(1.0), F64(1e-17)], 1.0),
        ("f64_mul", &[F64(1e300), F64(1e10)], f64::INFINITY),
        ("f64_div", &[F64(-1.0), F64(0.0)], f64::NEG_INFINITY),
        ("f64_sqrt", &[F64(16.0)], 4.0),
        ("f64_min", &[F64(1.0), F64(-2.0)], -2.0),
        ("f64_max", &[F64(-0.0), F64(0.0)], 0.0),
        ("f64_floor", &[F64(2.7)], 2.0),
        ("f64_nearest", &[F64(-0.5)], -0.0),
        ("f64_convert_i64_u", &[I64(-1)], 18446744073709551615.0),
        ("f64_promote_f32", &[F32(0.1)], 0.1f32 as f64),
    ];
    for (f, args, expected) in cases {
        let got = f64(&mut inst, f, args);
        assert_eq!(got.to_bits(), expected.to_bits(), "{f}{args:?}: {got}");
    }
    assert!(f64(&mut inst, "f64_sqrt", &[F64(-1.0)]).is_nan());
}

#[test]
fn nan_payloads_survive_the_host_boundary() {
    let mut inst = instance("arith");
    let nan = f32::from_bits(0x7fc0_1234);
    let got = f32(&mut inst, "f32_abs", &[F32(nan)]);
    assert_eq!(got.to_bits(), 0x7fc0_1234);
    let got = f32(&mut inst, "f32_neg", &[F32(nan)]);
    assert_eq!(got.to_bits(), 0xffc0_1234);
}

#[test]
fn multi_value_and_many_arguments() {
    let mut inst = instance("arith");
    let r = inst
        .run("sum_and_difference", &[I64(10), I64(3)])
        .unwrap()
        .returned()
        .unwrap();
    assert_eq!(r, vec![I64(13), I64(7)]);
    let r = inst.run("eight", &[]).unwrap().returned().unwrap();
    assert_eq!(
        r,
        vec![
            I32(1),
            I64(2),
            F32(3.0),
            F64(4.0),
            I32(5),
            I64(6),
            F32(7.0),
            F64(8.0)
        ]
    );
    let args = [
        I32(1),
        I64(2),
        I32(3),
        I64(4),
        I32(5),
        I64(6),
        I32(7),
        I64(8),
        F64(0.5),
        F64(0.25),
    ];
    assert_eq!(f64(&mut inst, "sum10", &args), 36.75);
}

#[test]
fn arguments_are_type_checked() {
    let mut inst = instance("arith");
    let err = inst.run("i32_add", &[I32(1)]).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected arguments (i32, i32) -> i32, got (i32)"),
        "{err}"
    );
    let err = inst.run("i32_add", &[I32(1), I64(2)]).unwrap_err();
    assert!(err.to_string().contains("got (i32, i64)"), "{err}");
    let err = inst.run("no_such_function", &[]).unwrap_err();
    assert_eq!(err.to_string(), "no exported function \"no_such_function\"");
}
