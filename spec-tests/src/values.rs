//! Converting testsuite values to runtime values and matching results.

use lucet_runtime::{AnyRef, ExternRef, HostRef, Val};
use wast::core::{HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{WastArg, WastRet};

/// The testsuite's host values are small integers.
fn host_ref(n: u32) -> HostRef {
    HostRef::new(u64::from(n)).expect("a u32 is a host value")
}

/// The family of references a heap type belongs to.
enum Family {
    Func,
    Extern,
    Exn,
    /// GC's `any` hierarchy.
    Gc,
    /// A type of a module's type section: functions or `any`.
    Concrete,
}

fn family(ht: &HeapType<'_>) -> Family {
    use wast::core::AbstractHeapType as A;
    match ht {
        HeapType::Abstract { ty, .. } => match ty {
            A::Func | A::NoFunc => Family::Func,
            A::Extern | A::NoExtern => Family::Extern,
            A::Exn | A::NoExn => Family::Exn,
            _ => Family::Gc,
        },
        // A concrete type's family needs its module; only null is compared.
        _ => Family::Concrete,
    }
}

/// A testsuite argument as a runtime value.
pub fn arg(a: &WastArg<'_>) -> Result<Val, String> {
    let WastArg::Core(a) = a else {
        return Err("component-model argument".into());
    };
    Ok(match a {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(f32::from_bits(v.bits)),
        WastArgCore::F64(v) => Val::F64(f64::from_bits(v.bits)),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(ht) => match family(ht) {
            Family::Extern => Val::ExternRef(ExternRef::Null),
            Family::Exn => Val::ExnRef(0),
            Family::Func => Val::FuncRef(0),
            Family::Gc => Val::AnyRef(AnyRef::Null),
            Family::Concrete => return Err("a null reference of a concrete type".into()),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(ExternRef::Host(host_ref(*n))),
        WastArgCore::RefHost(n) => Val::AnyRef(AnyRef::Host(host_ref(*n))),
    })
}

fn f32_matches(p: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    match p {
        NanPattern::Value(v) => v.bits == bits,
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
    }
}

fn f64_matches(p: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    match p {
        NanPattern::Value(v) => v.bits == bits,
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
    }
}

fn v128_matches(p: &V128Pattern, v: u128) -> bool {
    let b = v.to_le_bytes();
    match p {
        V128Pattern::I8x16(l) => l.iter().enumerate().all(|(i, x)| *x as u8 == b[i]),
        V128Pattern::I16x8(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| x.to_le_bytes() == b[i * 2..i * 2 + 2]),
        V128Pattern::I32x4(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| x.to_le_bytes() == b[i * 4..i * 4 + 4]),
        V128Pattern::I64x2(l) => l
            .iter()
            .enumerate()
            .all(|(i, x)| x.to_le_bytes() == b[i * 8..i * 8 + 8]),
        V128Pattern::F32x4(l) => l.iter().enumerate().all(|(i, p)| {
            f32_matches(
                p,
                u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap()),
            )
        }),
        V128Pattern::F64x2(l) => l.iter().enumerate().all(|(i, p)| {
            f64_matches(
                p,
                u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap()),
            )
        }),
    }
}

fn core_matches(expected: &WastRetCore<'_>, got: &Val) -> bool {
    match (expected, got) {
        (WastRetCore::I32(e), Val::I32(g)) => e == g,
        (WastRetCore::I64(e), Val::I64(g)) => e == g,
        (WastRetCore::F32(p), Val::F32(g)) => f32_matches(p, g.to_bits()),
        (WastRetCore::F64(p), Val::F64(g)) => f64_matches(p, g.to_bits()),
        (WastRetCore::V128(p), Val::V128(g)) => v128_matches(p, *g),
        (WastRetCore::RefNull(None), Val::FuncRef(g) | Val::ExnRef(g)) => *g == 0,
        (WastRetCore::RefNull(None), Val::ExternRef(e)) => *e == ExternRef::Null,
        (WastRetCore::RefNull(None), Val::AnyRef(a)) => *a == AnyRef::Null,
        (WastRetCore::RefNull(Some(ht)), v) => match (family(ht), v) {
            (Family::Func | Family::Concrete, Val::FuncRef(g)) | (Family::Exn, Val::ExnRef(g)) => {
                *g == 0
            }
            (Family::Extern, Val::ExternRef(e)) => *e == ExternRef::Null,
            (Family::Gc | Family::Concrete, Val::AnyRef(a)) => *a == AnyRef::Null,
            _ => false,
        },
        (WastRetCore::RefI31, Val::AnyRef(AnyRef::I31(_))) => true,
        (WastRetCore::RefAny, Val::AnyRef(a)) => *a != AnyRef::Null,
        (WastRetCore::RefEq, Val::AnyRef(a)) => matches!(a, AnyRef::I31(_) | AnyRef::Object(_)),
        (WastRetCore::RefStruct, Val::AnyRef(AnyRef::Object(o))) => o.is_struct(),
        (WastRetCore::RefArray, Val::AnyRef(AnyRef::Object(o))) => !o.is_struct(),
        (WastRetCore::RefHost(n), Val::AnyRef(AnyRef::Host(h))) => *h == host_ref(*n),
        (WastRetCore::RefExtern(None), Val::ExternRef(e)) => *e != ExternRef::Null,
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(e)) => *e == ExternRef::Host(host_ref(*n)),
        (WastRetCore::RefFunc(_), Val::FuncRef(g)) => *g != 0,
        (WastRetCore::Either(options), g) => options.iter().any(|o| core_matches(o, g)),
        _ => false,
    }
}

/// Whether `got` matches the expected result.
pub fn matches(expected: &WastRet<'_>, got: &Val) -> bool {
    match expected {
        WastRet::Core(e) => core_matches(e, got),
        _ => false,
    }
}
