//! The memory layout that generated code, trampolines and the runtime share.
//!
//! `vmctx`, the pointer every guest function receives first, points at the
//! base of the instance's linear memory. The [`InstanceHeader`] sits directly
//! below it, at the end of the slot's instance page, so one register reaches
//! both the heap (positive offsets) and instance data (negative offsets).
//!
//! Every `#[repr(C)]` struct here is read by generated code at the offsets
//! given by its `OFFSET_*` constants; the tests at the bottom check each
//! constant against `offset_of!`, so the compiler and the runtime cannot
//! drift apart silently.

use std::ffi::c_void;
use std::mem::size_of;

/// Instance data that generated code reads at negative offsets from `vmctx`.
#[repr(C)]
#[derive(Debug)]
pub struct InstanceHeader {
    /// The frame pointer of the guest function that called a builtin that
    /// may collect garbage (written by the builtin's entry): where the
    /// collector starts walking the guest's frames.
    pub exit_fp: u64,
    /// The return address of that call.
    pub exit_pc: u64,
    /// Where the next GC object goes: generated code allocates by moving
    /// it up (a bump pointer) while it stays at or below `gc_limit`, and
    /// calls the `GcAlloc` builtin when an object does not fit.
    pub gc_next: u64,
    /// The end of the instance's GC heap.
    pub gc_limit: u64,
    /// Minus the fuel left, for code compiled to count instructions: the
    /// code adds what it executes and traps with `OutOfFuel` at zero.
    /// `i64::MIN` when the instance has no fuel limit.
    pub fuel: i64,
    /// The runtime's own instance structure (opaque to generated code).
    pub instance: *mut c_void,
    /// One [`FuncImport`] per imported function.
    pub func_imports: *const FuncImport,
    /// One [`FuncRef`] per function in `ModuleData::funcref_slots`.
    pub funcrefs: *const FuncRef,
    /// The process-wide [`TypeRecord`] of each of the module's type
    /// indices (equal types have the same record).
    pub types: *const *const TypeRecord,
    /// One pointer to a [`TableDef`] per table (imported or defined).
    pub tables: *const *mut TableDef,
    /// The globals area: 16 bytes per global; an imported global's slot holds
    /// a pointer to the global's storage.
    pub globals: *mut u8,
    /// This instance's own memory 0 (when the module defines it).
    pub memory: MemoryDef,
    /// One pointer to a [`MemoryDef`] per memory (imported or defined; the
    /// first points at `memory` when the module defines memory 0).
    pub memories: *const *mut MemoryDef,
    /// The identity of each tag, by tag index: the same for every instance
    /// that shares the tag (by import), different across instances that
    /// define it.
    pub tags: *const u64,
    /// The lowest stack pointer guest code may use; below it is a trap.
    /// Raised out of reach to interrupt the guest at its next function
    /// entry (by other threads: kill switches, timeouts).
    pub stack_limit: usize,
    /// Nonzero when the guest must stop: generated code checks it at every
    /// loop header and, when set, calls the `Interrupted` builtin, which
    /// ends the run without a signal. Written by other threads
    /// (kill switches, timeouts), so read it atomically.
    pub interrupt: u64,
    /// [`InstanceHeader::MAGIC`] while the instance is live.
    pub magic: u64,
}

impl InstanceHeader {
    /// Marks a live header; host code checks it before trusting a `vmctx`.
    pub const MAGIC: u64 = 0x4c55_4345_5456_4d43; // "LUCETVMC"
    /// Size of the header in bytes.
    pub const SIZE: i32 = 144;
    /// Offset of `exit_fp` from `vmctx`.
    pub const OFFSET_EXIT_FP: i32 = -144;
    /// Offset of `exit_pc` from `vmctx`.
    pub const OFFSET_EXIT_PC: i32 = -136;
    /// Offset of `gc_next` from `vmctx`.
    pub const OFFSET_GC_NEXT: i32 = -128;
    /// Offset of `gc_limit` from `vmctx`.
    pub const OFFSET_GC_LIMIT: i32 = -120;
    /// Offset of `fuel` from `vmctx`.
    pub const OFFSET_FUEL: i32 = -112;
    /// Offset of `instance` from `vmctx`.
    pub const OFFSET_INSTANCE: i32 = -104;
    /// Offset of `func_imports` from `vmctx`.
    pub const OFFSET_FUNC_IMPORTS: i32 = -96;
    /// Offset of `funcrefs` from `vmctx`.
    pub const OFFSET_FUNCREFS: i32 = -88;
    /// Offset of `types` from `vmctx`.
    pub const OFFSET_TYPES: i32 = -80;
    /// Offset of `tables` from `vmctx`.
    pub const OFFSET_TABLES: i32 = -72;
    /// Offset of `globals` from `vmctx`.
    pub const OFFSET_GLOBALS: i32 = -64;
    /// Offset of `memory.base` from `vmctx`.
    pub const OFFSET_MEMORY_BASE: i32 = -56;
    /// Offset of `memory.current_length` from `vmctx`.
    pub const OFFSET_MEMORY_LENGTH: i32 = -48;
    /// Offset of `memories` from `vmctx`.
    pub const OFFSET_MEMORIES: i32 = -40;
    /// Offset of `tags` from `vmctx`.
    pub const OFFSET_TAGS: i32 = -32;
    /// Offset of `stack_limit` from `vmctx`.
    pub const OFFSET_STACK_LIMIT: i32 = -24;
    /// Offset of `interrupt` from `vmctx`.
    pub const OFFSET_INTERRUPT: i32 = -16;
    /// Offset of `magic` from `vmctx`.
    pub const OFFSET_MAGIC: i32 = -8;

    /// Size of one global's slot in the globals area.
    pub const GLOBAL_SLOT_SIZE: u32 = 16;
}

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct MemoryDef {
    /// Base address of the memory.
    pub base: *mut u8,
    /// Accessible size in bytes (a multiple of the wasm page size).
    pub current_length: u64,
}

impl MemoryDef {
    /// Offset of `base`.
    pub const OFFSET_BASE: i32 = 0;
    /// Offset of `current_length`.
    pub const OFFSET_CURRENT_LENGTH: i32 = 8;
}

/// A canonical type as generated code sees it: one per distinct type in
/// the process, never freed, so that two types are the same type exactly
/// when their records have the same address.
///
/// Subtyping is checked in constant time with the supertype list: `A` is
/// a subtype of `B` when `A.depth >= B.depth` and `A.supers[B.depth]` is
/// `B` (a type's depth is how many supertypes are above it, which the
/// compiler knows for every type of the module).
#[repr(C)]
#[derive(Debug)]
pub struct TypeRecord {
    /// How many supertypes are above this type.
    pub depth: u32,
    /// What the type defines: a [`crate::TypeKind`] as 0 (function),
    /// 1 (struct) or 2 (array).
    pub kind: u32,
    /// `depth + 1` records: the supertypes from the topmost down, then this
    /// type itself.
    pub supers: *const *const TypeRecord,
    /// For the collector: a struct type's object size (header included),
    /// an array type's element size; 0 for a function type.
    pub object_size: u32,
    /// For the collector: a struct type's number of reference fields (the
    /// length of `ref_offsets`); for an array type, 1 when its elements are
    /// references.
    pub ref_count: u32,
    /// For the collector: the offsets of a struct's reference fields (null
    /// for other types).
    pub ref_offsets: *const u32,
}

// SAFETY: a record and the lists it points to are written once, before
// the record is published, and never changed or freed afterwards.
unsafe impl Sync for TypeRecord {}
// SAFETY: as above: records are immutable and live forever.
unsafe impl Send for TypeRecord {}

impl TypeRecord {
    /// Offset of `depth`.
    pub const OFFSET_DEPTH: i32 = 0;
    /// Offset of `kind`.
    pub const OFFSET_KIND: i32 = 4;
    /// Offset of `supers`.
    pub const OFFSET_SUPERS: i32 = 8;
}

/// The start of every GC object (structs, arrays): its exact type.
///
/// References of the `any` and `extern` hierarchies share one encoding, so
/// that `any.convert_extern` and `extern.convert_any` change nothing: 0 is
/// null; low bit 1 is an `i31ref` (the integer in bits 1..32); low bits
/// `10` are a host value (the value in bits 2..64, see
/// [`HOST_REF_TAG`]); low bits `00` are an object's address (objects are
/// 8-aligned). A struct's fields follow the header at the offsets of
/// [`crate::StructLayout`]; an array has its length at
/// [`ObjectHeader::OFFSET_ARRAY_LENGTH`] and its elements from
/// [`ObjectHeader::OFFSET_ARRAY_ELEMENTS`].
#[repr(C)]
#[derive(Debug)]
pub struct ObjectHeader {
    /// The object's type.
    pub ty: *const TypeRecord,
}

impl ObjectHeader {
    /// Offset of `ty`.
    pub const OFFSET_TYPE: i32 = 0;
    /// Size of the header: where a struct's fields start.
    pub const SIZE: u32 = 8;
    /// Offset of an array's length (a `u32`).
    pub const OFFSET_ARRAY_LENGTH: i32 = 8;
    /// Offset of an array's first element.
    pub const OFFSET_ARRAY_ELEMENTS: u32 = 16;
    /// Every object's size is a multiple of this, and so is its address.
    pub const ALIGN: u64 = 8;
}

/// The low two bits of a reference to a host value (an `externref` from
/// the host, or the `anyref` it becomes through `any.convert_extern`).
pub const HOST_REF_TAG: u64 = 0b10;
/// The mask of a reference's tag bits.
pub const REF_TAG_MASK: u64 = 0b11;

/// A function reference: what a `funcref` value points to.
#[repr(C)]
#[derive(Debug)]
pub struct FuncRef {
    /// Native-convention entry point: `(vmctx, params...) -> results`.
    pub code: *const u8,
    /// The function's type (compared by `call_indirect` and casts).
    pub ty: *const TypeRecord,
    /// The `vmctx` to call `code` with.
    pub vmctx: *mut u8,
}

impl FuncRef {
    /// Size in bytes.
    pub const SIZE: u32 = 24;
    /// Offset of `code`.
    pub const OFFSET_CODE: i32 = 0;
    /// Offset of `ty`.
    pub const OFFSET_TYPE: i32 = 8;
    /// Offset of `vmctx`.
    pub const OFFSET_VMCTX: i32 = 16;
}

/// How an instance calls one of its imported functions.
///
/// `code` uses the *array calling convention*:
/// `extern "C" fn(vmctx, data, values: *mut ValRaw, len: usize)`; arguments
/// are read from `values` and results written back over them. For another
/// instance's function, `native_code` is that function itself (the wasm
/// calling convention, called with `native_vmctx`): the importer's stub
/// tail-calls it, so calls and tail calls between instances go straight to
/// it. For a host function, `native_code` is null and the stub makes the
/// array call.
#[repr(C)]
#[derive(Debug)]
pub struct FuncImport {
    /// Array-convention entry point.
    pub code: *const u8,
    /// First argument to `code`.
    pub vmctx: *mut u8,
    /// Second argument to `code` (host data, or unused).
    pub data: *const u8,
    /// Native-convention entry point of another instance's function; null
    /// for a host function.
    pub native_code: *const u8,
    /// The vmctx to call `native_code` with.
    pub native_vmctx: *mut u8,
}

impl FuncImport {
    /// Size in bytes.
    pub const SIZE: u32 = 40;
    /// Offset of `code`.
    pub const OFFSET_CODE: i32 = 0;
    /// Offset of `vmctx`.
    pub const OFFSET_VMCTX: i32 = 8;
    /// Offset of `data`.
    pub const OFFSET_DATA: i32 = 16;
    /// Offset of `native_code`.
    pub const OFFSET_NATIVE_CODE: i32 = 24;
    /// Offset of `native_vmctx`.
    pub const OFFSET_NATIVE_VMCTX: i32 = 32;
}

/// A table as generated code sees it. Elements are 8 bytes: a `*const
/// FuncRef` for funcref tables, an opaque host value for externref tables;
/// 0 is null.
#[repr(C)]
#[derive(Debug)]
pub struct TableDef {
    /// Pointer to the first element.
    pub base: *mut u64,
    /// Current number of elements.
    pub len: u32,
    /// Nonzero once anything wrote an element or the length since
    /// instantiation (`table.set` in generated code, the runtime's table
    /// operations): a reused slot restores only written tables.
    pub written: u32,
}

impl TableDef {
    /// Offset of `base`.
    pub const OFFSET_BASE: i32 = 0;
    /// Offset of `len`.
    pub const OFFSET_LEN: i32 = 8;
    /// Offset of `written`.
    pub const OFFSET_WRITTEN: i32 = 12;
    /// Size of one element.
    pub const ELEMENT_SIZE: u32 = 8;
}

/// One value of an array call: 16 bytes, enough for a `v128`.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValRaw(pub [u8; 16]);

/// Size of a [`ValRaw`].
pub const ARRAY_CALL_VALUE_SIZE: u32 = 16;

const _: () = assert!(size_of::<ValRaw>() == ARRAY_CALL_VALUE_SIZE as usize);

macro_rules! valraw_accessors {
    ($($get:ident $set:ident $t:ty;)*) => {
        impl ValRaw {
            $(
                #[doc = concat!("Reads the value as `", stringify!($t), "`.")]
                #[inline]
                pub fn $get(&self) -> $t {
                    <$t>::from_le_bytes(self.0[..size_of::<$t>()].try_into().unwrap())
                }
                #[doc = concat!("Stores a `", stringify!($t), "`, zeroing the rest.")]
                #[inline]
                pub fn $set(v: $t) -> Self {
                    let mut raw = ValRaw::default();
                    raw.0[..size_of::<$t>()].copy_from_slice(&v.to_le_bytes());
                    raw
                }
            )*
        }
    };
}

valraw_accessors! {
    get_i32 from_i32 i32;
    get_u32 from_u32 u32;
    get_i64 from_i64 i64;
    get_u64 from_u64 u64;
    get_u128 from_u128 u128;
}

impl ValRaw {
    /// Reads an `f32` (bit-exact, NaN payloads kept).
    #[inline]
    pub fn get_f32(&self) -> f32 {
        f32::from_bits(self.get_u32())
    }
    /// Stores an `f32` (bit-exact).
    #[inline]
    pub fn from_f32(v: f32) -> Self {
        ValRaw::from_u32(v.to_bits())
    }
    /// Reads an `f64` (bit-exact).
    #[inline]
    pub fn get_f64(&self) -> f64 {
        f64::from_bits(self.get_u64())
    }
    /// Stores an `f64` (bit-exact).
    #[inline]
    pub fn from_f64(v: f64) -> Self {
        ValRaw::from_u64(v.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    fn from_vmctx(field_offset: usize) -> i32 {
        field_offset as i32 - size_of::<InstanceHeader>() as i32
    }

    #[test]
    fn instance_header_offsets_match_layout() {
        type H = InstanceHeader;
        assert_eq!(size_of::<H>() as i32, H::SIZE);
        assert_eq!(from_vmctx(offset_of!(H, exit_fp)), H::OFFSET_EXIT_FP);
        assert_eq!(from_vmctx(offset_of!(H, exit_pc)), H::OFFSET_EXIT_PC);
        assert_eq!(from_vmctx(offset_of!(H, gc_next)), H::OFFSET_GC_NEXT);
        assert_eq!(from_vmctx(offset_of!(H, gc_limit)), H::OFFSET_GC_LIMIT);
        assert_eq!(from_vmctx(offset_of!(H, fuel)), H::OFFSET_FUEL);
        assert_eq!(from_vmctx(offset_of!(H, instance)), H::OFFSET_INSTANCE);
        assert_eq!(
            from_vmctx(offset_of!(H, func_imports)),
            H::OFFSET_FUNC_IMPORTS
        );
        assert_eq!(from_vmctx(offset_of!(H, funcrefs)), H::OFFSET_FUNCREFS);
        assert_eq!(from_vmctx(offset_of!(H, types)), H::OFFSET_TYPES);
        assert_eq!(from_vmctx(offset_of!(H, tables)), H::OFFSET_TABLES);
        assert_eq!(from_vmctx(offset_of!(H, globals)), H::OFFSET_GLOBALS);
        assert_eq!(
            from_vmctx(offset_of!(H, memory) + offset_of!(MemoryDef, base)),
            H::OFFSET_MEMORY_BASE
        );
        assert_eq!(
            from_vmctx(offset_of!(H, memory) + offset_of!(MemoryDef, current_length)),
            H::OFFSET_MEMORY_LENGTH
        );
        assert_eq!(from_vmctx(offset_of!(H, memories)), H::OFFSET_MEMORIES);
        assert_eq!(from_vmctx(offset_of!(H, tags)), H::OFFSET_TAGS);
        assert_eq!(
            from_vmctx(offset_of!(H, stack_limit)),
            H::OFFSET_STACK_LIMIT
        );
        assert_eq!(from_vmctx(offset_of!(H, interrupt)), H::OFFSET_INTERRUPT);
        assert_eq!(from_vmctx(offset_of!(H, magic)), H::OFFSET_MAGIC);
    }

    #[test]
    fn record_offsets_match_layout() {
        assert_eq!(offset_of!(MemoryDef, base) as i32, MemoryDef::OFFSET_BASE);
        assert_eq!(
            offset_of!(MemoryDef, current_length) as i32,
            MemoryDef::OFFSET_CURRENT_LENGTH
        );
        assert_eq!(size_of::<FuncRef>() as u32, FuncRef::SIZE);
        assert_eq!(offset_of!(FuncRef, code) as i32, FuncRef::OFFSET_CODE);
        assert_eq!(offset_of!(FuncRef, ty) as i32, FuncRef::OFFSET_TYPE);
        assert_eq!(
            offset_of!(ObjectHeader, ty) as i32,
            ObjectHeader::OFFSET_TYPE
        );
        assert_eq!(
            offset_of!(TypeRecord, depth) as i32,
            TypeRecord::OFFSET_DEPTH
        );
        assert_eq!(offset_of!(TypeRecord, kind) as i32, TypeRecord::OFFSET_KIND);
        assert_eq!(
            offset_of!(TypeRecord, supers) as i32,
            TypeRecord::OFFSET_SUPERS
        );
        assert_eq!(offset_of!(FuncRef, vmctx) as i32, FuncRef::OFFSET_VMCTX);
        assert_eq!(size_of::<FuncImport>() as u32, FuncImport::SIZE);
        assert_eq!(offset_of!(FuncImport, code) as i32, FuncImport::OFFSET_CODE);
        assert_eq!(
            offset_of!(FuncImport, vmctx) as i32,
            FuncImport::OFFSET_VMCTX
        );
        assert_eq!(offset_of!(FuncImport, data) as i32, FuncImport::OFFSET_DATA);
        assert_eq!(
            offset_of!(FuncImport, native_code) as i32,
            FuncImport::OFFSET_NATIVE_CODE
        );
        assert_eq!(
            offset_of!(FuncImport, native_vmctx) as i32,
            FuncImport::OFFSET_NATIVE_VMCTX
        );
        assert_eq!(offset_of!(TableDef, base) as i32, TableDef::OFFSET_BASE);
        assert_eq!(offset_of!(TableDef, len) as i32, TableDef::OFFSET_LEN);
        assert_eq!(
            offset_of!(TableDef, written) as i32,
            TableDef::OFFSET_WRITTEN
        );
    }

    #[test]
    fn valraw_is_bit_exact() {
        let nan = f32::from_bits(0x7fa0_0001);
        assert_eq!(ValRaw::from_f32(nan).get_f32().to_bits(), 0x7fa0_0001);
        assert_eq!(ValRaw::from_i32(-5).get_i32(), -5);
        assert_eq!(ValRaw::from_i32(-5).get_u64(), 0xffff_fffb);
        assert_eq!(ValRaw::from_u128(u128::MAX).get_u128(), u128::MAX);
    }
}
