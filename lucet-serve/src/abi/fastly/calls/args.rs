//! A call's arguments.

/// A call's arguments, as raw bits.
pub(super) struct Args<'a>(pub(super) &'a [u64]);

impl Args<'_> {
    /// Argument `i`, an `i32` (a pointer, length, handle or number).
    pub fn u32(&self, i: usize) -> u32 {
        self.0[i] as u32
    }

    /// Argument `i`, an `i64`.
    pub fn u64(&self, i: usize) -> u64 {
        self.0[i]
    }
}
