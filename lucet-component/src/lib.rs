//! The host side of the component model's canonical ABI, as far as WASI
//! 0.2 needs it: component value types and their layout in a guest's
//! linear memory ([`ValType`]), component values ([`Val`]) read from and
//! written to guest memory with every pointer and length checked
//! ([`load`], [`store`]) or as core values ([`lift_flat`], [`lower_flat`]),
//! and per-instance tables of resource handles
//! ([`HandleTable`]).
//!
//! Everything here works on a guest memory given as bytes plus the guest's
//! `realloc` ([`GuestMemory`]), so it is tested without an engine; the
//! runtime's adapters for canonical `lower` and `lift` use it with an
//! instance's memory. Sizes that come from a guest are bounded before the
//! host allocates for them ([`Budget`]).

mod abi;
mod error;
mod flat;
mod memory;
mod resources;
mod types;
mod value;

pub use abi::{
    ComponentAbi, Lift, Lower, LowerKind, ResourceName, Signature, ALLOCATED, ALLOCATION_MODULE,
    PENDING_ALLOCATION,
};
pub use error::AbiError;
pub use flat::{
    flatten, lift_flat, lower_flat, CoreType, CoreVal, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS,
};
pub use memory::{allocations, load, store, Budget, GuestMemory, StringEncoding};
pub use resources::{Handle, HandleTable, ResourceError};
pub use types::ValType;
pub use value::Val;
