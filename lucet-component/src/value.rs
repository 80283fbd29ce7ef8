//! Component values, as the host handles them.

/// A component value. Records and tuples hold their fields in order;
/// variants, enums, options and results their case's index and payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Bool(bool),
    S8(i8),
    U8(u8),
    S16(i16),
    U16(u16),
    S32(i32),
    U32(u32),
    S64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Char(char),
    String(String),
    List(Vec<Val>),
    /// A `list<u8>`, as bytes (what lifting one gives; lowering takes
    /// either form).
    Bytes(Vec<u8>),
    /// A record's or a tuple's fields, in order.
    Record(Vec<Val>),
    /// A variant-like value (variant, enum, option, result): the case's
    /// index and its payload, if the case has one.
    Variant(u32, Option<Box<Val>>),
    /// One boolean per flag, in order.
    Flags(Vec<bool>),
    /// A handle's index in the instance's table (own or borrow).
    Handle(u32),
}
