//! `lucet_val`: the values that cross the API, a tagged union of the four
//! numeric WebAssembly types.

use lucet_runtime::{Val, ValType};

use crate::error::{Error, Result};

/// A WebAssembly value type. A plain integer rather than an enum, so that
/// an unknown value from C is an error (`LUCET_ERROR_INVALID_ARGUMENT`), not
/// undefined behavior.
#[allow(non_camel_case_types)]
pub type lucet_valtype = u32;

/// `i32`
pub const LUCET_VALTYPE_I32: lucet_valtype = 0;
/// `i64`
pub const LUCET_VALTYPE_I64: lucet_valtype = 1;
/// `f32`
pub const LUCET_VALTYPE_F32: lucet_valtype = 2;
/// `f64`
pub const LUCET_VALTYPE_F64: lucet_valtype = 3;

/// The payload of a `lucet_val`; `kind` says which member is meant.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub union lucet_val_payload {
    /// For `LUCET_VALTYPE_I32` (also an `i32` read as unsigned).
    pub i32: i32,
    /// For `LUCET_VALTYPE_I64`.
    pub i64: i64,
    /// For `LUCET_VALTYPE_F32` (NaN payloads are kept bit-exact).
    pub f32: f32,
    /// For `LUCET_VALTYPE_F64` (NaN payloads are kept bit-exact).
    pub f64: f64,
}

/// A WebAssembly value: `kind` is a `LUCET_VALTYPE_*` and `of` holds the
/// member of that type, e.g.
/// `lucet_val v = { .kind = LUCET_VALTYPE_I32, .of.i32 = 7 };`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lucet_val {
    /// Which member of `of` is meant.
    pub kind: lucet_valtype,
    /// The value.
    pub of: lucet_val_payload,
}

impl std::fmt::Debug for lucet_val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match to_val(self) {
            Ok(v) => write!(f, "lucet_val({v:?})"),
            Err(_) => write!(f, "lucet_val(kind {})", self.kind),
        }
    }
}

/// The value type `t` names.
pub(crate) fn to_valtype(t: lucet_valtype) -> Result<ValType> {
    match t {
        LUCET_VALTYPE_I32 => Ok(ValType::I32),
        LUCET_VALTYPE_I64 => Ok(ValType::I64),
        LUCET_VALTYPE_F32 => Ok(ValType::F32),
        LUCET_VALTYPE_F64 => Ok(ValType::F64),
        other => Err(Error::InvalidArgument(format!(
            "unknown value type {other} (LUCET_VALTYPE_I32, _I64, _F32 or _F64)"
        ))),
    }
}

/// The C API's name of `t`, or an error for the types it does not carry.
pub(crate) fn from_valtype(t: ValType) -> Result<lucet_valtype> {
    match t {
        ValType::I32 => Ok(LUCET_VALTYPE_I32),
        ValType::I64 => Ok(LUCET_VALTYPE_I64),
        ValType::F32 => Ok(LUCET_VALTYPE_F32),
        ValType::F64 => Ok(LUCET_VALTYPE_F64),
        other => Err(Error::UnsupportedType(format!(
            "the C API carries i32, i64, f32 and f64 values, not {other}"
        ))),
    }
}

/// The runtime value of `v`.
pub(crate) fn to_val(v: &lucet_val) -> Result<Val> {
    // SAFETY: every bit pattern is a valid value of every member; `kind`
    // says which one the caller wrote.
    unsafe {
        match v.kind {
            LUCET_VALTYPE_I32 => Ok(Val::I32(v.of.i32)),
            LUCET_VALTYPE_I64 => Ok(Val::I64(v.of.i64)),
            LUCET_VALTYPE_F32 => Ok(Val::F32(v.of.f32)),
            LUCET_VALTYPE_F64 => Ok(Val::F64(v.of.f64)),
            other => Err(Error::InvalidArgument(format!(
                "unknown value kind {other} (LUCET_VALTYPE_I32, _I64, _F32 or _F64)"
            ))),
        }
    }
}

/// `v` as a `lucet_val`, or an error for the types the C API does not carry.
pub(crate) fn from_val(v: &Val) -> Result<lucet_val> {
    Ok(match *v {
        Val::I32(x) => lucet_val {
            kind: LUCET_VALTYPE_I32,
            of: lucet_val_payload { i32: x },
        },
        Val::I64(x) => lucet_val {
            kind: LUCET_VALTYPE_I64,
            of: lucet_val_payload { i64: x },
        },
        Val::F32(x) => lucet_val {
            kind: LUCET_VALTYPE_F32,
            of: lucet_val_payload { f32: x },
        },
        Val::F64(x) => lucet_val {
            kind: LUCET_VALTYPE_F64,
            of: lucet_val_payload { f64: x },
        },
        ref other => return Err(from_valtype(other.ty()).unwrap_err()),
    })
}

/// Fails unless every type of `types` is one the C API carries.
pub(crate) fn check_types(types: &[ValType], what: &str) -> Result<()> {
    for t in types {
        from_valtype(*t).map_err(|e| Error::UnsupportedType(format!("{what}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_bit_exact() {
        for v in [
            Val::I32(-7),
            Val::I64(i64::MIN),
            Val::F32(f32::from_bits(0x7fa0_0001)),
            Val::F64(f64::from_bits(0x7ff4_0000_0000_0001)),
        ] {
            let back = to_val(&from_val(&v).unwrap()).unwrap();
            assert_eq!(back.to_raw().get_u128(), v.to_raw().get_u128());
            assert_eq!(back.ty(), v.ty());
        }
    }

    #[test]
    fn unknown_kinds_and_types_are_errors() {
        let bad = lucet_val {
            kind: 77,
            of: lucet_val_payload { i64: 0 },
        };
        assert!(matches!(to_val(&bad), Err(Error::InvalidArgument(_))));
        assert!(matches!(to_valtype(4), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            from_val(&Val::V128(1)),
            Err(Error::UnsupportedType(_))
        ));
        assert!(matches!(
            from_valtype(ValType::FUNCREF),
            Err(Error::UnsupportedType(_))
        ));
    }
}
