//! Component value types and their layout in linear memory (the canonical
//! ABI's `alignment` and `elem_size`, 32-bit memories).

/// A component value type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValType {
    Bool,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    F32,
    F64,
    Char,
    /// UTF-8 in memory.
    String,
    List(Box<ValType>),
    Record(Vec<(String, ValType)>),
    Tuple(Vec<ValType>),
    /// Cases, each with its payload type if it has one.
    Variant(Vec<(String, Option<ValType>)>),
    Enum(Vec<String>),
    Option(Box<ValType>),
    Result {
        ok: Option<Box<ValType>>,
        err: Option<Box<ValType>>,
    },
    Flags(Vec<String>),
    /// An owned handle to a resource of the given type (an index the host
    /// assigns to the resource types it knows).
    Own(u32),
    /// A borrowed handle.
    Borrow(u32),
}

/// The integer a variant's discriminant is stored as, by its size in
/// bytes: 1 up to 256 cases, 2 up to 65,536, else 4.
pub(crate) fn discriminant_size(cases: usize) -> u32 {
    if cases <= 1 << 8 {
        1
    } else if cases <= 1 << 16 {
        2
    } else {
        4
    }
}

pub(crate) fn align_to(offset: u32, align: u32) -> u32 {
    offset.div_ceil(align) * align
}

impl ValType {
    /// How many cases a variant-like type has (0 for other types).
    pub(crate) fn case_count(&self) -> usize {
        match self {
            ValType::Variant(cases) => cases.len(),
            ValType::Enum(names) => names.len(),
            ValType::Option(_) | ValType::Result { .. } => 2,
            _ => 0,
        }
    }

    /// The payload types of a variant-like type's cases that have one,
    /// without allocating (layouts are asked for on every call).
    pub(crate) fn payloads(&self) -> Payloads<'_> {
        match self {
            ValType::Variant(cases) => Payloads::Variant(cases.iter()),
            ValType::Option(t) => Payloads::Two(Some(t), None),
            ValType::Result { ok, err } => Payloads::Two(ok.as_deref(), err.as_deref()),
            _ => Payloads::Two(None, None),
        }
    }

    /// The largest alignment of a variant-like type's payloads (1 if none).
    fn payload_alignment(&self) -> u32 {
        let mut align = 1;
        for t in self.payloads() {
            align = align.max(t.alignment());
            if align == 8 {
                break;
            }
        }
        align
    }

    /// Case `disc` of a variant-like type: its payload type, if it has one.
    pub(crate) fn case(&self, disc: u32) -> Result<Option<&ValType>, crate::AbiError> {
        let count = self.case_count();
        if disc as usize >= count {
            return Err(crate::AbiError::InvalidDiscriminant {
                value: disc,
                cases: count,
            });
        }
        Ok(match self {
            ValType::Variant(cases) => cases[disc as usize].1.as_ref(),
            ValType::Option(t) => (disc == 1).then_some(&**t),
            ValType::Result { ok, err } => {
                if disc == 0 {
                    ok.as_deref()
                } else {
                    err.as_deref()
                }
            }
            _ => None,
        })
    }

    /// The fields of a record-like type (record, tuple).
    pub(crate) fn fields(&self) -> Option<Vec<&ValType>> {
        match self {
            ValType::Record(fields) => Some(fields.iter().map(|(_, t)| t).collect()),
            ValType::Tuple(types) => Some(types.iter().collect()),
            _ => None,
        }
    }

    /// Its alignment in memory, in bytes.
    pub fn alignment(&self) -> u32 {
        match self {
            ValType::Bool | ValType::S8 | ValType::U8 => 1,
            ValType::S16 | ValType::U16 => 2,
            ValType::S32 | ValType::U32 | ValType::F32 | ValType::Char => 4,
            ValType::S64 | ValType::U64 | ValType::F64 => 8,
            ValType::String | ValType::List(_) | ValType::Own(_) | ValType::Borrow(_) => 4,
            ValType::Flags(names) => match names.len() {
                0..=8 => 1,
                9..=16 => 2,
                _ => 4,
            },
            ValType::Record(fields) => fields.iter().map(|(_, f)| f.alignment()).max().unwrap_or(1),
            ValType::Tuple(types) => types.iter().map(|f| f.alignment()).max().unwrap_or(1),
            t => discriminant_size(t.case_count()).max(t.payload_alignment()),
        }
    }

    /// Its size in memory, in bytes (a multiple of its alignment).
    pub fn size(&self) -> u32 {
        match self {
            ValType::Bool | ValType::S8 | ValType::U8 => 1,
            ValType::S16 | ValType::U16 => 2,
            ValType::S32 | ValType::U32 | ValType::F32 | ValType::Char => 4,
            ValType::S64 | ValType::U64 | ValType::F64 => 8,
            ValType::String | ValType::List(_) => 8,
            ValType::Own(_) | ValType::Borrow(_) => 4,
            ValType::Flags(names) => match names.len() {
                0 => 0,
                1..=8 => 1,
                9..=16 => 2,
                n => 4 * (n as u32).div_ceil(32),
            },
            t => {
                if let Some(fields) = t.fields() {
                    let mut size = 0;
                    for f in &fields {
                        size = align_to(size, f.alignment()) + f.size();
                    }
                    align_to(size, t.alignment())
                } else {
                    let payload = t.payloads().map(|t| t.size()).max().unwrap_or(0);
                    let size = t.payload_offset() + payload;
                    align_to(size, t.alignment())
                }
            }
        }
    }

    /// Where a variant's payload starts, from its start.
    pub(crate) fn payload_offset(&self) -> u32 {
        align_to(
            discriminant_size(self.case_count()),
            self.payload_alignment(),
        )
    }

    /// Each field's offset in a record-like type.
    pub(crate) fn field_offsets(&self) -> Vec<u32> {
        let mut offsets = Vec::new();
        let mut at = 0;
        for f in self.fields().expect("a record-like type") {
            at = align_to(at, f.alignment());
            offsets.push(at);
            at += f.size();
        }
        offsets
    }

    /// Its name in WIT, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ValType::Bool => "bool",
            ValType::S8 => "s8",
            ValType::U8 => "u8",
            ValType::S16 => "s16",
            ValType::U16 => "u16",
            ValType::S32 => "s32",
            ValType::U32 => "u32",
            ValType::S64 => "s64",
            ValType::U64 => "u64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::Char => "char",
            ValType::String => "string",
            ValType::List(_) => "list",
            ValType::Record(_) => "record",
            ValType::Tuple(_) => "tuple",
            ValType::Variant(_) => "variant",
            ValType::Enum(_) => "enum",
            ValType::Option(_) => "option",
            ValType::Result { .. } => "result",
            ValType::Flags(_) => "flags",
            ValType::Own(_) => "own",
            ValType::Borrow(_) => "borrow",
        }
    }
}

/// The payload types of a variant-like type, as [`ValType::payloads`]
/// walks them.
pub(crate) enum Payloads<'a> {
    Variant(std::slice::Iter<'a, (String, Option<ValType>)>),
    Two(Option<&'a ValType>, Option<&'a ValType>),
}

impl<'a> Iterator for Payloads<'a> {
    type Item = &'a ValType;

    fn next(&mut self) -> Option<&'a ValType> {
        match self {
            Payloads::Variant(cases) => cases.by_ref().find_map(|(_, t)| t.as_ref()),
            Payloads::Two(a, b) => a.take().or_else(|| b.take()),
        }
    }
}

/// Variants and enums with more cases than this are written abbreviated
/// by [`ValType::to_wit`].
const WIT_CASES_SHOWN: usize = 8;

impl ValType {
    /// The type as WIT writes it, resource types named from `resources`
    /// (the list [`ValType::Own`] indexes); variants, enums and flags with
    /// many cases are abbreviated.
    pub fn to_wit(&self, resources: &[crate::ResourceName]) -> String {
        let list = |items: Vec<String>| items.join(", ");
        let resource = |r: &u32| {
            resources
                .get(*r as usize)
                .map_or_else(|| format!("resource{r}"), |n| n.name.clone())
        };
        let cases = |names: Vec<String>| {
            if names.len() > WIT_CASES_SHOWN {
                format!("{} cases", names.len())
            } else {
                list(names)
            }
        };
        match self {
            ValType::String => "string".into(),
            ValType::List(t) => format!("list<{}>", t.to_wit(resources)),
            ValType::Record(fields) => format!(
                "record {{ {} }}",
                list(
                    fields
                        .iter()
                        .map(|(n, t)| format!("{n}: {}", t.to_wit(resources)))
                        .collect()
                )
            ),
            ValType::Tuple(types) => format!(
                "tuple<{}>",
                list(types.iter().map(|t| t.to_wit(resources)).collect())
            ),
            ValType::Variant(cs) => format!(
                "variant {{ {} }}",
                cases(
                    cs.iter()
                        .map(|(n, t)| match t {
                            Some(t) => format!("{n}({})", t.to_wit(resources)),
                            None => n.clone(),
                        })
                        .collect()
                )
            ),
            ValType::Enum(names) => format!("enum {{ {} }}", cases(names.clone())),
            ValType::Flags(names) => format!("flags {{ {} }}", cases(names.clone())),
            ValType::Option(t) => format!("option<{}>", t.to_wit(resources)),
            ValType::Result { ok, err } => match (ok, err) {
                (None, None) => "result".into(),
                (Some(o), None) => format!("result<{}>", o.to_wit(resources)),
                (None, Some(e)) => format!("result<_, {}>", e.to_wit(resources)),
                (Some(o), Some(e)) => {
                    format!("result<{}, {}>", o.to_wit(resources), e.to_wit(resources))
                }
            },
            ValType::Own(r) => resource(r),
            ValType::Borrow(r) => format!("borrow<{}>", resource(r)),
            other => other.kind().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[ValType]) -> ValType {
        ValType::Record(
            fields
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("f{i}"), t.clone()))
                .collect(),
        )
    }

    #[test]
    fn scalars() {
        for (t, size) in [
            (ValType::Bool, 1),
            (ValType::U8, 1),
            (ValType::S16, 2),
            (ValType::Char, 4),
            (ValType::F32, 4),
            (ValType::U64, 8),
            (ValType::F64, 8),
        ] {
            assert_eq!((t.size(), t.alignment()), (size, size), "{t:?}");
        }
        assert_eq!(
            (ValType::String.size(), ValType::String.alignment()),
            (8, 4)
        );
        let list = ValType::List(Box::new(ValType::U64));
        assert_eq!((list.size(), list.alignment()), (8, 4));
        assert_eq!(
            (ValType::Own(0).size(), ValType::Borrow(0).alignment()),
            (4, 4)
        );
    }

    #[test]
    fn records_pad_fields_and_their_end() {
        // u8 at 0, u32 at 4, u16 at 8: 10, padded to 12.
        let r = record(&[ValType::U8, ValType::U32, ValType::U16]);
        assert_eq!((r.size(), r.alignment()), (12, 4));
        assert_eq!(r.field_offsets(), vec![0, 4, 8]);
        // u8, u64: 16, aligned 8.
        let r = ValType::Tuple(vec![ValType::U8, ValType::U64]);
        assert_eq!((r.size(), r.alignment()), (16, 8));
        assert_eq!(
            (
                ValType::Tuple(vec![]).size(),
                ValType::Tuple(vec![]).alignment()
            ),
            (0, 1)
        );
    }

    #[test]
    fn variants_put_the_payload_after_the_discriminant() {
        // option<u32>: u8 discriminant, payload at 4: 8 bytes.
        let o = ValType::Option(Box::new(ValType::U32));
        assert_eq!((o.size(), o.alignment(), o.payload_offset()), (8, 4, 4));
        // option<u8>: 2 bytes.
        let o = ValType::Option(Box::new(ValType::U8));
        assert_eq!((o.size(), o.alignment(), o.payload_offset()), (2, 1, 1));
        // result<_, _>: the discriminant alone.
        let r = ValType::Result {
            ok: None,
            err: None,
        };
        assert_eq!((r.size(), r.alignment()), (1, 1));
        // result<string, u64>: payload at 8, 16 bytes.
        let r = ValType::Result {
            ok: Some(Box::new(ValType::String)),
            err: Some(Box::new(ValType::U64)),
        };
        assert_eq!((r.size(), r.alignment(), r.payload_offset()), (16, 8, 8));
        // An enum of 300 cases takes a u16.
        let e = ValType::Enum((0..300).map(|i| format!("c{i}")).collect());
        assert_eq!((e.size(), e.alignment()), (2, 2));
        // 70,000 cases: a u32.
        let v = ValType::Variant((0..70_000).map(|i| (format!("c{i}"), None)).collect());
        assert_eq!((v.size(), v.alignment()), (4, 4));
    }

    #[test]
    fn flags_take_whole_words_past_sixteen() {
        let flags = |n: usize| ValType::Flags((0..n).map(|i| format!("f{i}")).collect());
        for (n, size, align) in [
            (0, 0, 1),
            (1, 1, 1),
            (8, 1, 1),
            (9, 2, 2),
            (16, 2, 2),
            (17, 4, 4),
            (32, 4, 4),
            (33, 8, 4),
            (64, 8, 4),
            (65, 12, 4),
        ] {
            assert_eq!(
                (flags(n).size(), flags(n).alignment()),
                (size, align),
                "{n}"
            );
        }
    }
}
