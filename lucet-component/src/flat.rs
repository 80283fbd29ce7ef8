//! Values as core WebAssembly values: the canonical ABI's flattening
//! (`flatten_type`), `lift_flat` (reading what a guest passed in
//! parameters or returned) and `lower_flat` (passing values to a guest).
//! A function whose parameters flatten to more than
//! [`MAX_FLAT_PARAMS`] values, or whose result to more than
//! [`MAX_FLAT_RESULTS`], passes them in memory instead ([`load`] and
//! [`store`](crate::store) at a pointer).

use crate::memory::{
    lift_list, lift_string, lower_bytes, lower_list, lower_string, Budget, GuestMemory,
};
use crate::types::discriminant_size;
use crate::{AbiError, Val, ValType};

/// Most core parameters a lifted or lowered function takes before its
/// parameters go through memory.
pub const MAX_FLAT_PARAMS: usize = 16;
/// Most core results before results go through memory.
pub const MAX_FLAT_RESULTS: usize = 1;

/// A core value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreType {
    I32,
    I64,
    F32,
    F64,
}

/// A core value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CoreVal {
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
}

impl CoreVal {
    fn ty(self) -> CoreType {
        match self {
            CoreVal::I32(_) => CoreType::I32,
            CoreVal::I64(_) => CoreType::I64,
            CoreVal::F32(_) => CoreType::F32,
            CoreVal::F64(_) => CoreType::F64,
        }
    }

    fn zero(ty: CoreType) -> CoreVal {
        match ty {
            CoreType::I32 => CoreVal::I32(0),
            CoreType::I64 => CoreVal::I64(0),
            CoreType::F32 => CoreVal::F32(0.0),
            CoreType::F64 => CoreVal::F64(0.0),
        }
    }
}

/// The core types `ty` flattens to.
pub fn flatten(ty: &ValType) -> Vec<CoreType> {
    let mut out = Vec::new();
    flatten_into(ty, &mut out);
    out
}

fn flatten_into(ty: &ValType, out: &mut Vec<CoreType>) {
    match ty {
        ValType::S64 | ValType::U64 => out.push(CoreType::I64),
        ValType::F32 => out.push(CoreType::F32),
        ValType::F64 => out.push(CoreType::F64),
        ValType::String | ValType::List(_) => out.extend([CoreType::I32, CoreType::I32]),
        ValType::Record(_) | ValType::Tuple(_) => {
            for f in ty.fields().expect("a record-like type") {
                flatten_into(f, out);
            }
        }
        ValType::Variant(_) | ValType::Enum(_) | ValType::Option(_) | ValType::Result { .. } => {
            out.push(CoreType::I32);
            out.extend(variant_payload(ty));
        }
        ValType::Flags(names) => {
            out.extend(std::iter::repeat(CoreType::I32).take(names.len().div_ceil(32)))
        }
        _ => out.push(CoreType::I32),
    }
}

/// The joined core types of a variant's payloads.
fn variant_payload(ty: &ValType) -> Vec<CoreType> {
    let mut flat: Vec<CoreType> = Vec::new();
    for case in ty.payloads() {
        for (i, t) in flatten(case).into_iter().enumerate() {
            match flat.get_mut(i) {
                Some(have) => *have = join(*have, t),
                None => flat.push(t),
            }
        }
    }
    flat
}

fn join(a: CoreType, b: CoreType) -> CoreType {
    match (a, b) {
        _ if a == b => a,
        (CoreType::I32, CoreType::F32) | (CoreType::F32, CoreType::I32) => CoreType::I32,
        _ => CoreType::I64,
    }
}

/// Core values read in order, each as the type flattening says it is
/// (a guest's values were checked against its signature by validation, so
/// a mismatch is the host's error, reported, not trusted).
struct Reader<'a> {
    values: &'a [CoreVal],
    at: usize,
}

impl Reader<'_> {
    fn next(&mut self, want: CoreType) -> Result<CoreVal, AbiError> {
        let v = *self.values.get(self.at).ok_or(AbiError::TypeMismatch {
            expected: "more core values",
        })?;
        self.at += 1;
        if v.ty() != want {
            return Err(AbiError::TypeMismatch {
                expected: "a core value of the flattened type",
            });
        }
        Ok(v)
    }

    fn i32(&mut self) -> Result<u32, AbiError> {
        match self.next(CoreType::I32)? {
            CoreVal::I32(v) => Ok(v as u32),
            _ => unreachable!("checked"),
        }
    }

    fn i64(&mut self) -> Result<u64, AbiError> {
        match self.next(CoreType::I64)? {
            CoreVal::I64(v) => Ok(v as u64),
            _ => unreachable!("checked"),
        }
    }
}

/// Reads a value of type `ty` from core values (the parameters a guest
/// passed, or its results), reading strings and lists from its memory.
pub fn lift_flat(
    memory: &[u8],
    values: &[CoreVal],
    ty: &ValType,
    budget: &mut Budget,
) -> Result<Val, AbiError> {
    let mut reader = Reader { values, at: 0 };
    let v = lift(memory, &mut reader, ty, budget)?;
    if reader.at != values.len() {
        return Err(AbiError::TypeMismatch {
            expected: "no more core values",
        });
    }
    Ok(v)
}

fn lift(
    memory: &[u8],
    r: &mut Reader<'_>,
    ty: &ValType,
    budget: &mut Budget,
) -> Result<Val, AbiError> {
    Ok(match ty {
        ValType::Bool => Val::Bool(r.i32()? != 0),
        // Narrow integers keep their low bits, as the ABI says.
        ValType::S8 => Val::S8(r.i32()? as i8),
        ValType::U8 => Val::U8(r.i32()? as u8),
        ValType::S16 => Val::S16(r.i32()? as i16),
        ValType::U16 => Val::U16(r.i32()? as u16),
        ValType::S32 => Val::S32(r.i32()? as i32),
        ValType::U32 => Val::U32(r.i32()?),
        ValType::S64 => Val::S64(r.i64()? as i64),
        ValType::U64 => Val::U64(r.i64()?),
        ValType::F32 => match r.next(CoreType::F32)? {
            CoreVal::F32(f) => Val::F32(f),
            _ => unreachable!("checked"),
        },
        ValType::F64 => match r.next(CoreType::F64)? {
            CoreVal::F64(f) => Val::F64(f),
            _ => unreachable!("checked"),
        },
        ValType::Char => {
            let c = r.i32()?;
            Val::Char(char::from_u32(c).ok_or(AbiError::InvalidChar(c))?)
        }
        ValType::String => lift_string(memory, r.i32()?, r.i32()?, budget)?,
        ValType::List(elem) => lift_list(memory, r.i32()?, r.i32()?, elem, budget)?,
        ValType::Record(_) | ValType::Tuple(_) => {
            let fields = ty.fields().expect("a record-like type");
            let mut values = Vec::with_capacity(fields.len());
            for f in fields {
                values.push(lift(memory, r, f, budget)?);
            }
            Val::Record(values)
        }
        ValType::Variant(_) | ValType::Enum(_) | ValType::Option(_) | ValType::Result { .. } => {
            let disc = r.i32()?;
            let case = ty.case(disc)?;
            let joined = variant_payload(ty);
            let taken = &r.values[r.at..r.at + joined.len().min(r.values.len() - r.at)];
            if taken.len() != joined.len() {
                return Err(AbiError::TypeMismatch {
                    expected: "a variant's payload values",
                });
            }
            r.at += joined.len();
            let payload = match case {
                None => None,
                Some(t) => {
                    let wanted = flatten(t);
                    let coerced = wanted
                        .iter()
                        .zip(taken)
                        .map(|(want, have)| narrow(*have, *want))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut inner = Reader {
                        values: &coerced,
                        at: 0,
                    };
                    Some(Box::new(lift(memory, &mut inner, t, budget)?))
                }
            };
            Val::Variant(disc, payload)
        }
        ValType::Flags(names) => {
            let mut set = Vec::with_capacity(names.len());
            for word in 0..names.len().div_ceil(32) {
                let bits = r.i32()?;
                for bit in 0..32.min(names.len() - word * 32) {
                    set.push(bits & (1 << bit) != 0);
                }
            }
            Val::Flags(set)
        }
        ValType::Own(_) | ValType::Borrow(_) => Val::Handle(r.i32()?),
    })
}

/// A joined payload value read back as the type its case flattens to.
fn narrow(have: CoreVal, want: CoreType) -> Result<CoreVal, AbiError> {
    Ok(match (have, want) {
        (CoreVal::I32(x), CoreType::F32) => CoreVal::F32(f32::from_bits(x as u32)),
        (CoreVal::I64(x), CoreType::I32) => CoreVal::I32(x as i32),
        (CoreVal::I64(x), CoreType::F32) => CoreVal::F32(f32::from_bits(x as u32)),
        (CoreVal::I64(x), CoreType::F64) => CoreVal::F64(f64::from_bits(x as u64)),
        (v, w) if v.ty() == w => v,
        _ => {
            return Err(AbiError::TypeMismatch {
                expected: "a joined payload type",
            })
        }
    })
}

/// A payload value widened to the joined type of its position.
fn widen(v: CoreVal, to: CoreType) -> CoreVal {
    match (v, to) {
        (CoreVal::F32(f), CoreType::I32) => CoreVal::I32(f.to_bits() as i32),
        (CoreVal::I32(x), CoreType::I64) => CoreVal::I64(i64::from(x as u32)),
        (CoreVal::F32(f), CoreType::I64) => CoreVal::I64(i64::from(f.to_bits())),
        (CoreVal::F64(f), CoreType::I64) => CoreVal::I64(f.to_bits() as i64),
        (v, _) => v,
    }
}

/// The core values that pass `value`, of type `ty`, to a guest; strings and
/// lists are written into its memory through its `realloc`.
pub fn lower_flat(
    memory: &mut dyn GuestMemory,
    ty: &ValType,
    value: &Val,
    budget: &mut Budget,
) -> Result<Vec<CoreVal>, AbiError> {
    let mut out = Vec::new();
    lower(memory, ty, value, budget, &mut out)?;
    Ok(out)
}

fn lower(
    memory: &mut dyn GuestMemory,
    ty: &ValType,
    value: &Val,
    budget: &mut Budget,
    out: &mut Vec<CoreVal>,
) -> Result<(), AbiError> {
    let mismatch = || AbiError::TypeMismatch {
        expected: ty.kind(),
    };
    match (ty, value) {
        (ValType::Bool, Val::Bool(b)) => out.push(CoreVal::I32(i32::from(*b))),
        (ValType::S8, Val::S8(v)) => out.push(CoreVal::I32(i32::from(*v))),
        (ValType::U8, Val::U8(v)) => out.push(CoreVal::I32(i32::from(*v))),
        (ValType::S16, Val::S16(v)) => out.push(CoreVal::I32(i32::from(*v))),
        (ValType::U16, Val::U16(v)) => out.push(CoreVal::I32(i32::from(*v))),
        (ValType::S32, Val::S32(v)) => out.push(CoreVal::I32(*v)),
        (ValType::U32, Val::U32(v)) => out.push(CoreVal::I32(*v as i32)),
        (ValType::S64, Val::S64(v)) => out.push(CoreVal::I64(*v)),
        (ValType::U64, Val::U64(v)) => out.push(CoreVal::I64(*v as i64)),
        (ValType::F32, Val::F32(v)) => out.push(CoreVal::F32(*v)),
        (ValType::F64, Val::F64(v)) => out.push(CoreVal::F64(*v)),
        (ValType::Char, Val::Char(c)) => out.push(CoreVal::I32(u32::from(*c) as i32)),
        (ValType::String, Val::String(s)) => {
            let (data, len) = lower_string(memory, s, budget)?;
            out.extend([CoreVal::I32(data as i32), CoreVal::I32(len as i32)]);
        }
        (ValType::List(elem), Val::List(items)) => {
            let (data, len) = lower_list(memory, elem, items, budget)?;
            out.extend([CoreVal::I32(data as i32), CoreVal::I32(len as i32)]);
        }
        (ValType::List(elem), Val::Bytes(bytes)) if **elem == ValType::U8 => {
            let (data, len) = lower_bytes(memory, bytes, budget)?;
            out.extend([CoreVal::I32(data as i32), CoreVal::I32(len as i32)]);
        }
        (ValType::Record(_) | ValType::Tuple(_), Val::Record(values)) => {
            let fields = ty.fields().expect("a record-like type");
            if fields.len() != values.len() {
                return Err(mismatch());
            }
            for (f, v) in fields.into_iter().zip(values) {
                lower(memory, f, v, budget, out)?;
            }
        }
        (
            ValType::Variant(_) | ValType::Enum(_) | ValType::Option(_) | ValType::Result { .. },
            Val::Variant(disc, payload),
        ) => {
            let case = ty.case(*disc).map_err(|_| mismatch())?;
            debug_assert!(discriminant_size(ty.case_count()) <= 4);
            out.push(CoreVal::I32(*disc as i32));
            let joined = variant_payload(ty);
            let mut values = Vec::new();
            match (case, payload) {
                (Some(t), Some(v)) => lower(memory, t, v, budget, &mut values)?,
                (None, None) => {}
                _ => return Err(mismatch()),
            }
            for (i, to) in joined.iter().enumerate() {
                out.push(match values.get(i) {
                    Some(v) => widen(*v, *to),
                    None => CoreVal::zero(*to),
                });
            }
        }
        (ValType::Flags(names), Val::Flags(set)) if set.len() == names.len() => {
            for word in set.chunks(32) {
                let mut bits = 0u32;
                for (i, on) in word.iter().enumerate() {
                    if *on {
                        bits |= 1 << i;
                    }
                }
                out.push(CoreVal::I32(bits as i32));
            }
        }
        (ValType::Own(_) | ValType::Borrow(_), Val::Handle(h)) => out.push(CoreVal::I32(*h as i32)),
        _ => return Err(mismatch()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::TestMemory;

    fn budget() -> Budget {
        Budget::new(1 << 20)
    }

    fn memory() -> TestMemory {
        TestMemory {
            bytes: vec![0; 4096],
            next: 1024,
        }
    }

    fn round_trip(ty: &ValType, value: Val) -> Vec<CoreVal> {
        let mut m = memory();
        let flat = lower_flat(&mut m, ty, &value, &mut budget()).unwrap();
        assert_eq!(
            flat.iter().map(|v| v.ty()).collect::<Vec<_>>(),
            flatten(ty),
            "{ty:?}"
        );
        assert_eq!(
            lift_flat(&m.bytes, &flat, ty, &mut budget()).unwrap(),
            value
        );
        flat
    }

    #[test]
    fn flattening() {
        use CoreType::*;
        assert_eq!(flatten(&ValType::U8), [I32]);
        assert_eq!(flatten(&ValType::U64), [I64]);
        assert_eq!(flatten(&ValType::String), [I32, I32]);
        assert_eq!(
            flatten(&ValType::Tuple(vec![
                ValType::F32,
                ValType::S64,
                ValType::Char
            ])),
            [F32, I64, I32]
        );
        // option<f32>: discriminant, then f32.
        assert_eq!(
            flatten(&ValType::Option(Box::new(ValType::F32))),
            [I32, F32]
        );
        // result<f32, u32>: the payloads join to i32.
        let r = ValType::Result {
            ok: Some(Box::new(ValType::F32)),
            err: Some(Box::new(ValType::U32)),
        };
        assert_eq!(flatten(&r), [I32, I32]);
        // variant { a(f64), b(tuple<u32, u32>) }: f64 and i32 join to i64.
        let v = ValType::Variant(vec![
            ("a".into(), Some(ValType::F64)),
            (
                "b".into(),
                Some(ValType::Tuple(vec![ValType::U32, ValType::U32])),
            ),
        ]);
        assert_eq!(flatten(&v), [I32, I64, I32]);
        let flags = ValType::Flags((0..40).map(|i| format!("f{i}")).collect());
        assert_eq!(flatten(&flags), [I32, I32]);
    }

    #[test]
    fn values_round_trip_through_core_values() {
        assert_eq!(round_trip(&ValType::S8, Val::S8(-1)), [CoreVal::I32(-1)]);
        assert_eq!(round_trip(&ValType::U8, Val::U8(255)), [CoreVal::I32(255)]);
        round_trip(&ValType::U64, Val::U64(u64::MAX));
        round_trip(&ValType::Char, Val::Char('🦀'));
        round_trip(&ValType::String, Val::String("hello".into()));
        let v = ValType::Variant(vec![
            ("a".into(), Some(ValType::F64)),
            (
                "b".into(),
                Some(ValType::Tuple(vec![ValType::F32, ValType::U32])),
            ),
            ("c".into(), None),
        ]);
        round_trip(&v, Val::Variant(0, Some(Box::new(Val::F64(2.5)))));
        let flat = round_trip(
            &v,
            Val::Variant(
                1,
                Some(Box::new(Val::Record(vec![Val::F32(1.5), Val::U32(7)]))),
            ),
        );
        // The f32 travels as its bits in the joined i64.
        assert_eq!(flat[1], CoreVal::I64(i64::from(1.5f32.to_bits())));
        assert_eq!(
            round_trip(&v, Val::Variant(2, None))[1..],
            [CoreVal::I64(0), CoreVal::I32(0)]
        );
        let flags = ValType::Flags((0..40).map(|i| format!("f{i}")).collect());
        round_trip(&flags, Val::Flags((0..40).map(|i| i % 7 == 0).collect()));
        round_trip(
            &ValType::List(Box::new(ValType::String)),
            Val::List(vec![Val::String("a".into()), Val::String("bc".into())]),
        );
    }

    #[test]
    fn narrow_integers_keep_their_low_bits() {
        let m = memory();
        let v = lift_flat(
            &m.bytes,
            &[CoreVal::I32(0x1ff)],
            &ValType::U8,
            &mut budget(),
        );
        assert_eq!(v, Ok(Val::U8(0xff)));
        let v = lift_flat(
            &m.bytes,
            &[CoreVal::I32(0x18000)],
            &ValType::S16,
            &mut budget(),
        );
        assert_eq!(v, Ok(Val::S16(i16::MIN)));
        let v = lift_flat(&m.bytes, &[CoreVal::I32(2)], &ValType::Bool, &mut budget());
        assert_eq!(v, Ok(Val::Bool(true)));
    }

    #[test]
    fn bad_core_values_are_errors() {
        let m = memory();
        // A string past the end of memory.
        let v = lift_flat(
            &m.bytes,
            &[CoreVal::I32(4090), CoreVal::I32(100)],
            &ValType::String,
            &mut budget(),
        );
        assert!(matches!(v, Err(AbiError::OutOfBounds { .. })));
        // A discriminant past the cases.
        let o = ValType::Option(Box::new(ValType::U32));
        let v = lift_flat(
            &m.bytes,
            &[CoreVal::I32(2), CoreVal::I32(0)],
            &o,
            &mut budget(),
        );
        assert_eq!(v, Err(AbiError::InvalidDiscriminant { value: 2, cases: 2 }));
        // Too few values, too many, the wrong core type.
        assert!(lift_flat(&m.bytes, &[CoreVal::I32(1)], &o, &mut budget()).is_err());
        assert!(lift_flat(
            &m.bytes,
            &[CoreVal::I32(1), CoreVal::I32(1), CoreVal::I32(1)],
            &o,
            &mut budget()
        )
        .is_err());
        assert!(lift_flat(&m.bytes, &[CoreVal::I64(1)], &ValType::U32, &mut budget()).is_err());
        // A surrogate is not a char.
        let v = lift_flat(
            &m.bytes,
            &[CoreVal::I32(0xd800)],
            &ValType::Char,
            &mut budget(),
        );
        assert_eq!(v, Err(AbiError::InvalidChar(0xd800)));
    }
}
