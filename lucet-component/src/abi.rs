//! What a compiled component asks of its host: the description `lucetc`
//! records in a component's module file, beside the one core module the
//! component became, and the runtime reads to bind that module's imports
//! and call its exports.

use serde::{Deserialize, Serialize};

use crate::{StringEncoding, ValType};

/// The import module of the calls that lowered functions returning strings
/// or lists make to have their results' memory allocated by the guest's
/// `realloc` (see [`Lower::allocates`]).
pub const ALLOCATION_MODULE: &str = "lucet:canonical-abi";
/// `() -> i64`: the next block the pending result needs, as `align << 32 |
/// size`.
pub const PENDING_ALLOCATION: &str = "pending-allocation";
/// `(ptr: i32) -> i32`: the block for the pending result is at `ptr`; the
/// answer is how many blocks it still needs (0: the result is written).
pub const ALLOCATED: &str = "allocated";

/// A compiled component's interface to its host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentAbi {
    /// The resource types its functions name: [`ValType::Own`] and
    /// [`ValType::Borrow`] hold an index into this list.
    pub resources: Vec<ResourceName>,
    /// The host functions it calls, one per import of the core module.
    pub lowers: Vec<Lower>,
    /// The functions it exports, one per export of the core module.
    pub lifts: Vec<Lift>,
}

/// A resource type, by the interface that defines it and its name there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceName {
    /// The interface, as the component imports it
    /// (`wasi:io/streams@0.2.6`).
    pub interface: String,
    /// The resource's name in the interface (`output-stream`).
    pub name: String,
}

/// A component-level function type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The parameters, with their names.
    pub params: Vec<(String, ValType)>,
    /// The result, if there is one.
    pub result: Option<ValType>,
}

/// What a lowered import does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LowerKind {
    /// Calls the host function the import names.
    Call,
    /// Drops an owned handle to resource `resource` (an index into
    /// [`ComponentAbi::resources`]), or ends a borrow.
    ResourceDrop { resource: u32 },
}

/// A host function as the core module imports it: the canonical `lower`
/// of a component import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lower {
    /// The import's module: the interface (`wasi:cli/stdout@0.2.6`).
    pub module: String,
    /// The import's name: the function in the interface
    /// (`get-stdout`, `[method]output-stream.write`,
    /// `[resource-drop]output-stream`).
    pub name: String,
    /// What it does.
    pub kind: LowerKind,
    /// Its component-level type; the core signature is its flattening.
    pub signature: Signature,
    /// Whether its result holds strings or lists, so that lowering it
    /// allocates guest memory. Then the import returns an `i32` besides:
    /// the number of blocks still to allocate, which adapter code in the
    /// module allocates with the guest's `realloc` and hands over through
    /// [`PENDING_ALLOCATION`] and [`ALLOCATED`] before returning.
    pub allocates: bool,
    /// How its strings are encoded in guest memory.
    pub string_encoding: StringEncoding,
}

/// A function the component exports: the canonical `lift` of a core
/// function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lift {
    /// The core module's export, named as the component's core export is
    /// (`wasi:cli/run@0.2.0#run`).
    pub export: String,
    /// Its component-level type.
    pub signature: Signature,
    /// The core export to call once the host has read the results, if the
    /// component asks for one.
    pub post_return: Option<String>,
}

impl Signature {
    /// The function type as WIT writes it.
    pub fn to_wit(&self, resources: &[ResourceName]) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {}", t.to_wit(resources)))
            .collect();
        match &self.result {
            Some(r) => format!("func({}) -> {}", params.join(", "), r.to_wit(resources)),
            None => format!("func({})", params.join(", ")),
        }
    }
}
