//! Runtime builtins: functions of the runtime that generated code calls.
//!
//! Generated code reaches them through ELF relocations against the symbol
//! names below; the runtime's loader resolves those names against its own
//! table of builtins (never `dlsym`). The signatures are part of the contract:
//! every builtin takes `vmctx` first and uses the System V calling convention.

/// A runtime function that generated code calls (`memory.fill` and
/// `memory.copy` call the C library's `memset` and `memmove` directly, after
/// inline bounds checks). Addresses, lengths and
/// deltas are 64 bits (32-bit operands arrive zero-extended), so the runtime
/// checks bounds without wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `(vmctx, memory: i32, delta_pages: i64) -> i64`: old size in pages, or -1.
    MemoryGrow,
    /// `(vmctx, memory: i32, segment: i32, dst: i64, src: i64, len: i64) -> i32`:
    /// 0, or 1 when out of bounds.
    MemoryInit,
    /// `(vmctx, segment: i32)`
    DataDrop,
    /// `(vmctx, table: i32, delta: i64, init: i64) -> i64`: old size, or -1.
    TableGrow,
    /// `(vmctx, table: i32, dst: i64, val: i64, len: i64) -> i32`: 0, or 1 when out of bounds.
    TableFill,
    /// `(vmctx, dst_table: i32, src_table: i32, dst: i64, src: i64, len: i64) -> i32`
    TableCopy,
    /// `(vmctx, table: i32, segment: i32, dst: i64, src: i64, len: i64) -> i32`
    TableInit,
    /// `(vmctx, segment: i32)`
    ElemDrop,
    /// `(vmctx, tag: i32, values: *const ValRaw)`: throws an exception of
    /// the module's tag `tag` with the payload in `values`; never returns.
    Throw,
    /// `(vmctx, exnref: i64)`: throws the exception again; never returns.
    ThrowRef,
    /// `()`: called at a loop header whose interrupt word is set: ends a
    /// killed run (never returning), or yields a preempted one to the host
    /// and returns when it is resumed.
    Interrupted,
    /// `(vmctx, type: i32, size: i64) -> i64`: `size` bytes of the GC heap
    /// for an object of the module's type `type`, when the inline bump
    /// allocation found too little room; 0 when even a collection leaves
    /// too little (generated code then traps with `GcHeapExhausted`).
    GcAlloc,
    /// `(vmctx, type: i32, segment: i32, offset: i64, len: i64) -> i64`:
    /// a new array of `len` elements read from the data segment at byte
    /// `offset`; 0 when the GC heap is exhausted, 1 when the bytes lie
    /// outside the segment.
    ArrayNewData,
    /// `(vmctx, type: i32, segment: i32, offset: i64, len: i64) -> i64`:
    /// a new array of `len` references from the element segment; 0 when
    /// the GC heap is exhausted, 1 when they lie outside the segment.
    ArrayNewElem,
    /// `(vmctx, segment: i32, dst: i64, offset: i64, bytes: i64) -> i32`:
    /// copies `bytes` bytes of the data segment from `offset` to `dst`
    /// (the address of array elements, already checked); 0, or 1 when
    /// they lie outside the segment.
    ArrayInitData,
    /// `(vmctx, segment: i32, dst: i64, offset: i64, len: i64) -> i32`:
    /// writes `len` references of the element segment from `offset` to
    /// `dst` (checked array elements); 0, or 1 outside the segment.
    ArrayInitElem,
    /// `(code: i32)`: ends the run with the trap whose
    /// `TrapCode::number` is `code`, at the call's return address; never
    /// returns. Generated code traps through it rather than through a
    /// faulting instruction where it can.
    Trap,
}

/// The type of a builtin's parameter or result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinType {
    /// 32 bits.
    I32,
    /// 64 bits.
    I64,
}

impl Builtin {
    /// Every builtin.
    pub const ALL: [Builtin; 17] = [
        Builtin::MemoryGrow,
        Builtin::MemoryInit,
        Builtin::DataDrop,
        Builtin::TableGrow,
        Builtin::TableFill,
        Builtin::TableCopy,
        Builtin::TableInit,
        Builtin::ElemDrop,
        Builtin::Throw,
        Builtin::ThrowRef,
        Builtin::Interrupted,
        Builtin::Trap,
        Builtin::GcAlloc,
        Builtin::ArrayNewData,
        Builtin::ArrayNewElem,
        Builtin::ArrayInitData,
        Builtin::ArrayInitElem,
    ];

    /// The symbol name generated code refers to.
    pub fn symbol(self) -> &'static str {
        match self {
            Builtin::MemoryGrow => "lucet_builtin_memory_grow",
            Builtin::MemoryInit => "lucet_builtin_memory_init",
            Builtin::DataDrop => "lucet_builtin_data_drop",
            Builtin::TableGrow => "lucet_builtin_table_grow",
            Builtin::TableFill => "lucet_builtin_table_fill",
            Builtin::TableCopy => "lucet_builtin_table_copy",
            Builtin::TableInit => "lucet_builtin_table_init",
            Builtin::ElemDrop => "lucet_builtin_elem_drop",
            Builtin::Throw => "lucet_builtin_throw",
            Builtin::ThrowRef => "lucet_builtin_throw_ref",
            Builtin::Interrupted => "lucet_builtin_interrupted",
            Builtin::Trap => "lucet_builtin_trap",
            Builtin::GcAlloc => "lucet_builtin_gc_alloc",
            Builtin::ArrayNewData => "lucet_builtin_array_new_data",
            Builtin::ArrayNewElem => "lucet_builtin_array_new_elem",
            Builtin::ArrayInitData => "lucet_builtin_array_init_data",
            Builtin::ArrayInitElem => "lucet_builtin_array_init_elem",
        }
    }

    /// Index used in relocation targets.
    pub fn index(self) -> u32 {
        Builtin::ALL.iter().position(|b| *b == self).unwrap() as u32
    }

    /// The builtin with this index.
    pub fn from_index(i: u32) -> Option<Builtin> {
        Builtin::ALL.get(i as usize).copied()
    }

    /// The builtin with this symbol name.
    pub fn from_symbol(name: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|b| b.symbol() == name)
    }

    /// Whether generated code passes `vmctx` first. The builtins that end
    /// the run find the instance through the thread instead: they are
    /// called from cold blocks, and an argument there would tie the hot
    /// code's `vmctx` to the first argument register.
    pub fn takes_vmctx(self) -> bool {
        !matches!(self, Builtin::Interrupted | Builtin::Trap)
    }

    /// Parameter types (after `vmctx`, when it takes one).
    pub fn params(self) -> &'static [BuiltinType] {
        use BuiltinType::{I32, I64};
        match self {
            Builtin::MemoryGrow => &[I32, I64],
            Builtin::MemoryInit => &[I32, I32, I64, I64, I64],
            Builtin::DataDrop | Builtin::ElemDrop => &[I32],
            Builtin::TableGrow => &[I32, I64, I64],
            Builtin::TableFill => &[I32, I64, I64, I64],
            Builtin::TableCopy | Builtin::TableInit => &[I32, I32, I64, I64, I64],
            Builtin::Throw => &[I32, I64],
            Builtin::ThrowRef => &[I64],
            Builtin::Interrupted => &[],
            Builtin::Trap => &[I32],
            Builtin::GcAlloc => &[I32, I64],
            Builtin::ArrayNewData | Builtin::ArrayNewElem => &[I32, I32, I64, I64],
            Builtin::ArrayInitData | Builtin::ArrayInitElem => &[I32, I64, I64, I64],
        }
    }

    /// Whether generated code calls the builtin with the wasm calling
    /// convention (Cranelift's `tail`) rather than System V: the throwing
    /// builtins, which leave through exception handlers, before which
    /// every register counts as clobbered. Their arguments travel in the
    /// same registers either way.
    pub fn unwinds(self) -> bool {
        matches!(self, Builtin::Throw | Builtin::ThrowRef)
    }

    /// Whether generated code calls the builtin with a convention that
    /// clobbers no register (Cranelift's `preserve_all`): the interrupt
    /// check's call, on the cold path of every loop header, so that the
    /// loop's values stay in registers across it. Its entry saves what the
    /// host code behind it may clobber.
    pub fn preserves_registers(self) -> bool {
        matches!(self, Builtin::Interrupted)
    }

    /// The result type, if the builtin returns something.
    pub fn result(self) -> Option<BuiltinType> {
        match self {
            Builtin::DataDrop
            | Builtin::ElemDrop
            | Builtin::Throw
            | Builtin::ThrowRef
            | Builtin::Interrupted
            | Builtin::Trap => None,
            Builtin::MemoryGrow
            | Builtin::TableGrow
            | Builtin::GcAlloc
            | Builtin::ArrayNewData
            | Builtin::ArrayNewElem => Some(BuiltinType::I64),
            _ => Some(BuiltinType::I32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_round_trip() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_symbol(b.symbol()), Some(b));
            assert_eq!(Builtin::from_index(b.index()), Some(b));
        }
        assert_eq!(Builtin::from_symbol("memcpy"), None);
    }
}
