//! Division and remainder by constants (which the compiler turns into
//! multiplications and shifts) agree with Rust's wrapping arithmetic, and
//! still trap where they must.

use std::fmt::Write;

use lucet_runtime::{TrapCode, Val};

use crate::common::*;

const DIVISORS_32: &[i32] = &[
    1,
    2,
    3,
    5,
    6,
    7,
    9,
    10,
    11,
    12,
    13,
    25,
    100,
    125,
    641,
    1000,
    65535,
    65536,
    65537,
    139968,
    1_000_000_007,
    0x7fff_ffff,
    -2,
    -3,
    -7,
    -10,
    -65536,
    -1_000_000_007,
    i32::MIN,
    // Unsigned, these are large: 2^32 - 1, 2^32 - 2, 2^31 + 1.
    -1,
    -2,
    i32::MIN + 1,
];

const DIVISORS_64: &[i64] = &[
    1,
    2,
    3,
    7,
    10,
    1000,
    139968,
    1_000_000_007,
    6_700_417,
    0x7fff_ffff_ffff_ffff,
    1 << 32,
    (1 << 32) + 1,
    -1,
    -3,
    -7,
    -10,
    -(1 << 40),
    i64::MIN,
    i64::MIN + 1,
    -2,
];

fn dividends_32() -> Vec<i32> {
    let mut v: Vec<i32> = (-300..300).collect();
    v.extend([
        i32::MIN,
        i32::MIN + 1,
        i32::MAX,
        i32::MAX - 1,
        139967,
        139968,
        139969,
    ]);
    let mut s = 0x2545_f491u32;
    for _ in 0..300 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        v.push(s as i32);
    }
    v
}

fn dividends_64() -> Vec<i64> {
    let mut v: Vec<i64> = (-300..300).collect();
    v.extend([
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
        i64::MAX - 1,
        u32::MAX as i64,
    ]);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.push(s as i64);
    }
    v
}

const OPS: [&str; 4] = ["div_u", "rem_u", "div_s", "rem_s"];

fn module() -> String {
    let mut m = String::from("(module\n");
    for (i, d) in DIVISORS_32.iter().enumerate() {
        for op in OPS {
            writeln!(
                m,
                "(func (export \"i32.{op}.{i}\") (param i32) (result i32) (i32.{op} (local.get 0) (i32.const {d})))"
            )
            .unwrap();
        }
    }
    for (i, d) in DIVISORS_64.iter().enumerate() {
        for op in OPS {
            writeln!(
                m,
                "(func (export \"i64.{op}.{i}\") (param i64) (result i64) (i64.{op} (local.get 0) (i64.const {d})))"
            )
            .unwrap();
        }
    }
    m.push_str(
        "(func (export \"div_s_by_minus_one\") (param i32) (result i32) (i32.div_s (local.get 0) (i32.const -1)))
         (func (export \"rem_s_by_minus_one\") (param i64) (result i64) (i64.rem_s (local.get 0) (i64.const -1)))
         (func (export \"div_u_by_zero\") (param i32) (result i32) (i32.div_u (local.get 0) (i32.const 0)))
         (func (export \"rem_s_by_zero\") (param i64) (result i64) (i64.rem_s (local.get 0) (i64.const 0))))",
    );
    m
}

fn expected_32(op: &str, x: i32, d: i32) -> i32 {
    let (ux, ud) = (x as u32, d as u32);
    match op {
        "div_u" => (ux / ud) as i32,
        "rem_u" => (ux % ud) as i32,
        "div_s" => x.wrapping_div(d),
        _ => x.wrapping_rem(d),
    }
}

fn expected_64(op: &str, x: i64, d: i64) -> i64 {
    let (ux, ud) = (x as u64, d as u64);
    match op {
        "div_u" => (ux / ud) as i64,
        "rem_u" => (ux % ud) as i64,
        "div_s" => x.wrapping_div(d),
        _ => x.wrapping_rem(d),
    }
}

#[test]
fn division_by_constants_matches_rust() {
    let elf = compile_bytes(module().as_bytes());
    let module = lucet_runtime::Module::from_bytes(&elf, "divconst", &lucet_runtime::Linker::new())
        .expect("load");
    let mut inst = region().new_instance(module).expect("instantiate");
    for (i, &d) in DIVISORS_32.iter().enumerate() {
        for op in OPS {
            let name = format!("i32.{op}.{i}");
            for x in dividends_32() {
                if op == "div_s" && d == -1 && x == i32::MIN {
                    continue; // traps (checked below)
                }
                assert_eq!(
                    i32(&mut inst, &name, &[Val::I32(x)]),
                    expected_32(op, x, d),
                    "i32.{op} {x} {d}"
                );
            }
        }
    }
    for (i, &d) in DIVISORS_64.iter().enumerate() {
        for op in OPS {
            let name = format!("i64.{op}.{i}");
            for x in dividends_64() {
                if op == "div_s" && d == -1 && x == i64::MIN {
                    continue;
                }
                assert_eq!(
                    i64(&mut inst, &name, &[Val::I64(x)]),
                    expected_64(op, x, d),
                    "i64.{op} {x} {d}"
                );
            }
        }
    }

    // What traps still traps.
    let err = inst
        .run("div_s_by_minus_one", &[Val::I32(i32::MIN)])
        .unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::IntegerOverflow), "{err}");
    assert_eq!(i32(&mut inst, "div_s_by_minus_one", &[Val::I32(7)]), -7);
    assert_eq!(
        i64(&mut inst, "rem_s_by_minus_one", &[Val::I64(i64::MIN)]),
        0
    );
    let err = inst.run("div_u_by_zero", &[Val::I32(1)]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(TrapCode::IntegerDivisionByZero),
        "{err}"
    );
    let err = inst.run("rem_s_by_zero", &[Val::I64(1)]).unwrap_err();
    assert_eq!(
        err.trap_code(),
        Some(TrapCode::IntegerDivisionByZero),
        "{err}"
    );
}
