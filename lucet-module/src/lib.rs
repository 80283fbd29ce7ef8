//! The contract between `lucetc` and the Lucet runtime.
//!
//! Everything the compiler writes and the runtime reads is defined here and
//! nowhere else: the serialized [`ModuleData`] carried in every compiled file,
//! the ELF section and symbol names, the layout of the instance header that
//! generated code reads at fixed offsets from `vmctx`, the trap encoding, and
//! the runtime builtins that generated code calls.
//!
//! This crate depends on no other workspace crate but `lucet-component` (the
//! canonical ABI's types, which a component's file records), so that
//! compile-only tools pull no runtime and embedders that load precompiled
//! files pull no Cranelift.

mod arch;
mod builtins;
mod const_expr;
mod elf;
mod error;
mod file;
mod format;
mod function_table;
mod module_data;
mod names;
mod object_layout;
mod seal;
mod stack_maps;
mod trap;
mod trap_table;
mod types;
mod vmctx;

pub use arch::Arch;
pub use builtins::{Builtin, BuiltinType};
pub use const_expr::{ConstExpr, ConstOp};
pub use error::Error;
pub use file::{find_seal, ModuleFile};
pub use format::{
    decode_metadata, encode_metadata, function_symbol, import_stub_symbol, trampoline_symbol,
    FORMAT_VERSION, HEAP_IMAGE_SECTION, METADATA_MAGIC, METADATA_SECTION, PAGE_SIZE,
    WASM_PAGE_SIZE,
};
pub use function_table::{
    decode_functions, encode_functions, FunctionSpec, NameTable, FUNCTION_SECTION, NAME_SECTION,
};
pub use module_data::{
    CodeRange, DataSegment, ElemItems, ElemSegment, ElemSegmentKind, Export, ExportKind,
    FunctionHandlers, GlobalSpec, Handler, HandlerSite, HeapSpec, ImageChunk, ImportName,
    MemoryImage, MemorySpec, ModuleData, TableSpec, TagSpec, Trampoline,
};
pub use names::{escape_control, GuestName};
pub use object_layout::{array_size, StructLayout};
pub use seal::{
    blank_seal, content_hash, read_seal, verify_seal, write_seal, ContentHash, PublicKey, Seal,
    Signer, SEAL_MAGIC, SEAL_SECTION, SEAL_SIZE, SIGNATURE_CAPACITY,
};
pub use stack_maps::{StackMap, StackMapSite, StackMapTable, STACK_MAP_SECTION};
pub use trap::TrapCode;
pub use trap_table::{TrapTable, TRAP_SECTION};
pub use types::{
    CompositeType, FieldType, FuncType, HeapType, RefType, StorageType, SubType, TypeKind, ValType,
    MAX_SUBTYPING_DEPTH,
};
pub use vmctx::{
    FuncImport, FuncRef, InstanceHeader, MemoryDef, ObjectHeader, TableDef, TypeRecord, ValRaw,
    ARRAY_CALL_VALUE_SIZE, HOST_REF_TAG, REF_TAG_MASK,
};
