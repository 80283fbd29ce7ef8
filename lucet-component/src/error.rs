//! Why a value could not cross between host and guest.

/// A canonical-ABI violation by the guest (the call traps), or a limit of
/// the host's reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// A pointer and length that do not lie in guest memory (64-bit
    /// arithmetic: no wrap-around).
    #[error("{len} bytes at {ptr:#x} lie outside guest memory ({memory} bytes)")]
    OutOfBounds {
        /// Where.
        ptr: u64,
        /// How many bytes.
        len: u64,
        /// The memory's size.
        memory: u64,
    },
    /// A pointer not aligned as its type asks.
    #[error("pointer {ptr:#x} is not aligned to {align}")]
    Misaligned {
        /// The pointer.
        ptr: u64,
        /// The alignment asked.
        align: u32,
    },
    /// A string that is not valid UTF-8.
    #[error("a string is not valid UTF-8")]
    InvalidUtf8,
    /// A UTF-16 string with an unpaired surrogate.
    #[error("a string is not valid UTF-16")]
    InvalidUtf16,
    /// A `char` that is not a Unicode scalar value.
    #[error("{0:#x} is not a Unicode scalar value")]
    InvalidChar(u32),
    /// A variant's discriminant past its cases.
    #[error("discriminant {value} of a type with {cases} cases")]
    InvalidDiscriminant {
        /// What the guest stored.
        value: u32,
        /// How many cases the type has.
        cases: usize,
    },
    /// More bytes than the call may move (strings, lists).
    #[error("{requested} bytes exceed the {limit} a call may move")]
    TooLarge {
        /// What the value would take.
        requested: u64,
        /// The budget.
        limit: u64,
    },
    /// A value that does not have the type it is stored as.
    #[error("a value does not match its type: expected {expected}")]
    TypeMismatch {
        /// The type's name.
        expected: &'static str,
    },
    /// The guest's `realloc` failed or returned a bad pointer.
    #[error("realloc failed: {0}")]
    Realloc(String),
}
