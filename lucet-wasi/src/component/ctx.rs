//! `ComponentCtx`: what an instance of a component holds on the host side,
//! in its embedder context: the resources it has handles to, a result
//! waiting for guest memory, and the WASI context of its program
//! (arguments, environment, stdio, preopened directories).

use std::any::Any;

use lucet_runtime::component::{Handle, HandleTable, StringEncoding, Val, ValType};

use super::host::HostError;
use crate::WasiCtx;

/// The most resources one instance may hold handles to at once.
pub const DEFAULT_MAX_RESOURCES: usize = 4096;

/// A resource the host made, behind a handle: its type's name and value.
struct Entry {
    interface: &'static str,
    name: &'static str,
    value: Box<dyn Any + Send>,
}

/// A resource type of a host interface.
pub trait Resource: Any + Send {
    /// The interface that defines it, without version (`wasi:io/streams`).
    const INTERFACE: &'static str;
    /// Its name there (`output-stream`).
    const NAME: &'static str;
}

/// A lowered result waiting for the guest to allocate its blocks.
pub(crate) struct Pending {
    pub ty: ValType,
    pub value: Val,
    pub retptr: u32,
    pub plan: Vec<(u32, u32)>,
    pub blocks: Vec<u32>,
    pub encoding: StringEncoding,
}

/// The host side of one component instance.
pub struct ComponentCtx {
    /// The program's arguments, environment, stdio and directories.
    pub wasi: WasiCtx,
    table: HandleTable<Entry>,
    pub(crate) pending: Option<Pending>,
    /// What embedders' interfaces keep per instance, one value per type.
    extensions: lucet_runtime::EmbedCtx,
}

impl ComponentCtx {
    /// A context for a program that sees `wasi`, holding at most
    /// [`DEFAULT_MAX_RESOURCES`] resources.
    pub fn new(wasi: WasiCtx) -> ComponentCtx {
        ComponentCtx::with_max_resources(wasi, DEFAULT_MAX_RESOURCES)
    }

    /// A context holding at most `max` resources.
    pub fn with_max_resources(wasi: WasiCtx, max: usize) -> ComponentCtx {
        ComponentCtx {
            wasi,
            table: HandleTable::new(max),
            pending: None,
            extensions: lucet_runtime::EmbedCtx::default(),
        }
    }

    /// Keeps `value` for an embedder's interfaces (one value per type).
    pub fn set_extension<T: Any + Send>(&mut self, value: T) {
        self.extensions.insert(value);
    }

    /// The value of type `T` an embedder keeps, if any.
    pub fn extension_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.extensions.get_mut::<T>()
    }

    /// Gives the guest a handle to `value`: the `own` handle a function
    /// returns.
    pub fn push<T: Resource>(&mut self, value: T) -> Result<Val, HostError> {
        let entry = Entry {
            interface: T::INTERFACE,
            name: T::NAME,
            value: Box::new(value),
        };
        let h = self
            .table
            .insert(entry)
            .map_err(|e| HostError(e.to_string()))?;
        Ok(Val::Handle(h.0))
    }

    fn handle<T: Resource>(v: &Val) -> Result<Handle, HostError> {
        match v {
            Val::Handle(h) => Ok(Handle(*h)),
            _ => Err(HostError(format!("expected a handle to a {}", T::NAME))),
        }
    }

    /// The resource a handle the guest passed names, as a `T`.
    pub fn get<T: Resource>(&mut self, v: &Val) -> Result<&mut T, HostError> {
        let h = Self::handle::<T>(v)?;
        let entry = self
            .table
            .get_mut(h)
            .map_err(|e| HostError(e.to_string()))?;
        entry
            .value
            .downcast_mut::<T>()
            .ok_or_else(|| wrong_type::<T>(entry.name))
    }

    /// Takes the resource an `own` handle the guest passed names: the
    /// handle names nothing after.
    pub fn take<T: Resource>(&mut self, v: &Val) -> Result<T, HostError> {
        let h = Self::handle::<T>(v)?;
        let entry = self.table.get(h).map_err(|e| HostError(e.to_string()))?;
        if !entry.value.is::<T>() {
            return Err(wrong_type::<T>(entry.name));
        }
        let entry = self.table.remove(h).map_err(|e| HostError(e.to_string()))?;
        Ok(*entry.value.downcast::<T>().expect("checked above"))
    }

    /// `[resource-drop]`: ends the guest's handle to a resource of type
    /// `name` of `interface`.
    pub(crate) fn drop_handle(
        &mut self,
        handle: u32,
        interface: &str,
        name: &str,
    ) -> Result<(), HostError> {
        let h = Handle(handle);
        let entry = self.table.get(h).map_err(|e| HostError(e.to_string()))?;
        if entry.interface != interface || entry.name != name {
            return Err(HostError(format!(
                "{h} is of type {}, not {}",
                entry.name,
                name.escape_debug()
            )));
        }
        self.table.remove(h).map_err(|e| HostError(e.to_string()))?;
        Ok(())
    }

    /// How many resources the guest holds.
    pub fn resources(&self) -> usize {
        self.table.len()
    }
}

fn wrong_type<T: Resource>(found: &str) -> HostError {
    HostError(format!("the handle is of type {found}, not {}", T::NAME))
}
