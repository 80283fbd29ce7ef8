//! Trap codes: why guest code stopped, as recorded in each function's trap
//! table by the compiler and reported by the runtime.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a guest trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrapCode {
    /// The guest exhausted its stack.
    StackOverflow,
    /// A linear-memory access outside the accessible heap.
    HeapOutOfBounds,
    /// A misaligned atomic access.
    HeapMisaligned,
    /// A table access outside the table.
    TableOutOfBounds,
    /// `call_indirect` reached a null table entry.
    IndirectCallToNull,
    /// `call_indirect` reached a function of another signature.
    BadSignature,
    /// Integer overflow (`i32.div_s` of `INT_MIN / -1`, for example).
    IntegerOverflow,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// A float that cannot be represented as the target integer.
    BadConversionToInteger,
    /// An `unreachable` instruction was executed.
    Unreachable,
    /// A null reference was dereferenced.
    NullReference,
    /// A fault in guest code at an address with no trap record.
    Unknown,
    /// The instance used up its fuel (code compiled to count instructions).
    OutOfFuel,
    /// A throw found the instance's storage for live exceptions full
    /// (`Limits::max_exception_bytes`), even after collecting the dead.
    ExceptionStorageExhausted,
    /// `ref.cast` (or a `br_on_cast` that must not fail) found a reference
    /// of another type.
    CastFailure,
    /// An array index (or a range of `array.fill`, `array.copy`,
    /// `array.init_*`) outside the array.
    ArrayOutOfBounds,
    /// A GC object did not fit in the instance's GC heap
    /// (`Limits::gc_heap_size`).
    GcHeapExhausted,
}

impl TrapCode {
    /// Every code, for tests and tools.
    pub const ALL: [TrapCode; 17] = [
        TrapCode::StackOverflow,
        TrapCode::HeapOutOfBounds,
        TrapCode::HeapMisaligned,
        TrapCode::TableOutOfBounds,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::Unreachable,
        TrapCode::NullReference,
        TrapCode::Unknown,
        TrapCode::OutOfFuel,
        TrapCode::ExceptionStorageExhausted,
        TrapCode::CastFailure,
        TrapCode::ArrayOutOfBounds,
        TrapCode::GcHeapExhausted,
    ];

    /// The code's number, as generated code passes it to the `Trap`
    /// builtin: its position in [`TrapCode::ALL`].
    pub fn number(self) -> u32 {
        TrapCode::ALL
            .iter()
            .position(|c| *c == self)
            .expect("every code is in ALL") as u32
    }

    /// The code numbered `n`, if any.
    pub fn from_number(n: u32) -> Option<TrapCode> {
        TrapCode::ALL.get(n as usize).copied()
    }
}

impl fmt::Display for TrapCode {
    /// The wording of the WebAssembly specification's test suite.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::HeapOutOfBounds => "out of bounds memory access",
            TrapCode::HeapMisaligned => "unaligned atomic",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::Unreachable => "unreachable",
            TrapCode::NullReference => "null reference",
            TrapCode::Unknown => "unknown fault in guest code",
            TrapCode::OutOfFuel => "out of fuel",
            TrapCode::ExceptionStorageExhausted => "out of storage for exceptions",
            TrapCode::CastFailure => "cast failure",
            TrapCode::ArrayOutOfBounds => "out of bounds array access",
            TrapCode::GcHeapExhausted => "out of GC heap memory",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for c in TrapCode::ALL {
            assert_eq!(TrapCode::from_number(c.number()), Some(c));
        }
        assert_eq!(TrapCode::from_number(TrapCode::ALL.len() as u32), None);
    }
}
