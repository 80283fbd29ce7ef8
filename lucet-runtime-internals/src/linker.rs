//! Host functions and globals that modules import, registered by
//! `(module, name)`.
//!
//! Every host function is called by guest code with the *array calling
//! convention* (`lucet_module::FuncImport`): its entry reads the arguments
//! from the value buffer and writes the results back. The entries that
//! call embedders' closures (`Linker::func`, `Linker::func_dynamic`) are
//! made in `instance/host_func.rs`, beside the host-call glue they use;
//! this file knows only what loading needs: the definitions by name.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lucet_component::ComponentAbi;
use lucet_module::{FuncType, ImportName, ValRaw, ValType};

use crate::Val;

/// The array-call entry point of a host function.
pub type ArrayCallFn =
    unsafe extern "C" fn(vmctx: *mut u8, data: *const u8, values: *mut ValRaw, len: usize);

/// A host function ready to be imported.
pub struct HostFunc {
    ty: FuncType,
    code: ArrayCallFn,
    data: *const u8,
    _owner: Box<dyn Any + Send + Sync>,
}

// SAFETY: `data` points into `_owner`, which is `Send + Sync` and lives as
// long as the `HostFunc`.
unsafe impl Send for HostFunc {}
// SAFETY: as above.
unsafe impl Sync for HostFunc {}

impl std::fmt::Debug for HostFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostFunc{}", self.ty)
    }
}

impl HostFunc {
    pub(crate) fn new<T: Any + Send + Sync>(
        ty: FuncType,
        code: ArrayCallFn,
        owner: Box<T>,
    ) -> HostFunc {
        let data = &*owner as *const T as *const u8;
        HostFunc {
            ty,
            code,
            data,
            _owner: owner,
        }
    }

    /// The function's signature.
    pub fn ty(&self) -> &FuncType {
        &self.ty
    }

    /// Entry point and data pointer for a `FuncImport`.
    pub(crate) fn entry(&self) -> (ArrayCallFn, *const u8) {
        (self.code, self.data)
    }
}

/// A Rust type that maps to a wasm value type.
pub trait WasmTy: Copy + 'static {
    /// The wasm type.
    const TY: ValType;
    /// Reads the value.
    fn load(raw: &ValRaw) -> Self;
    /// Writes the value.
    fn store(self) -> ValRaw;
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:expr, $get:ident, $from:ident;)*) => {$(
        impl WasmTy for $t {
            const TY: ValType = $vt;
            #[inline]
            fn load(raw: &ValRaw) -> Self {
                raw.$get() as $t
            }
            #[inline]
            fn store(self) -> ValRaw {
                ValRaw::$from(self as _)
            }
        }
    )*};
}

wasm_ty! {
    i32 => ValType::I32, get_i32, from_i32;
    u32 => ValType::I32, get_u32, from_u32;
    i64 => ValType::I64, get_i64, from_i64;
    u64 => ValType::I64, get_u64, from_u64;
    f32 => ValType::F32, get_f32, from_f32;
    f64 => ValType::F64, get_f64, from_f64;
    u128 => ValType::V128, get_u128, from_u128;
}

/// What a host function may return: nothing, one value or a tuple.
pub trait WasmResults: 'static {
    /// The result types.
    fn types() -> Vec<ValType>;
    /// Writes the results to the value buffer.
    ///
    /// # Safety
    /// `values` must have room for `types().len()` values.
    unsafe fn store(self, values: *mut ValRaw);
}

impl WasmResults for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    unsafe fn store(self, _values: *mut ValRaw) {}
}

impl<T: WasmTy> WasmResults for T {
    fn types() -> Vec<ValType> {
        vec![T::TY]
    }
    #[inline]
    unsafe fn store(self, values: *mut ValRaw) {
        // SAFETY: the caller guarantees room for one value.
        unsafe { *values = self.store() };
    }
}

macro_rules! tuple_results {
    ($($t:ident $i:tt),*) => {
        impl<$($t: WasmTy),*> WasmResults for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::TY),*]
            }
            #[inline]
            unsafe fn store(self, values: *mut ValRaw) {
                // SAFETY: the caller guarantees room for every value.
                $(unsafe { *values.add($i) = self.$i.store() };)*
            }
        }
    };
}

tuple_results!(A 0, B 1);
tuple_results!(A 0, B 1, C 2);
tuple_results!(A 0, B 1, C 2, D 3);

/// A global provided by the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGlobal {
    /// Its initial value (and type).
    pub value: Val,
    /// Whether guests may set it.
    pub mutable: bool,
}

/// Something the host defines for modules to import.
#[derive(Clone)]
pub(crate) enum Definition {
    Func(Arc<HostFunc>),
    Global(HostGlobal),
}

impl std::fmt::Debug for Definition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Definition::Func(h) => write!(f, "{h:?}"),
            Definition::Global(g) => write!(f, "{g:?}"),
        }
    }
}

/// A host for modules compiled from components: it binds their imports,
/// knowing each by its component-level type (the module's
/// [`ComponentAbi`]), where a [`Linker`] knows functions by name only.
pub trait ComponentHost: Send + Sync {
    /// The host function for import `import` of a module compiled from a
    /// component whose interface is `abi`, of core type `ty`; `None` when
    /// this host does not provide it.
    fn bind(
        &self,
        abi: &Arc<ComponentAbi>,
        import: &ImportName,
        ty: &FuncType,
    ) -> Option<Arc<HostFunc>>;
}

#[derive(Clone)]
struct ComponentHostRef(Arc<dyn ComponentHost>);

impl std::fmt::Debug for ComponentHostRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ComponentHost")
    }
}

/// What modules may import: host functions and host globals, the names
/// of modules whose imports come from instances given at instantiation
/// ([`instance_module`](Linker::instance_module)), and the host of
/// components' imports ([`component_host`](Linker::component_host)).
#[derive(Debug, Clone, Default)]
pub struct Linker {
    defs: HashMap<(String, String), Definition>,
    instance_modules: HashSet<String>,
    default_unknown_imports: bool,
    component_host: Option<ComponentHostRef>,
}

impl Linker {
    /// An empty linker.
    pub fn new() -> Linker {
        Linker::default()
    }

    pub(crate) fn define(&mut self, module: &str, name: &str, def: Definition) -> &mut Self {
        self.defs.insert((module.into(), name.into()), def);
        self
    }

    /// Defines `module.name` as a global. Every instance that imports it
    /// gets its own copy, initialized to `value`.
    pub fn global(&mut self, module: &str, name: &str, value: Val, mutable: bool) -> &mut Self {
        self.define(
            module,
            name,
            Definition::Global(HostGlobal { value, mutable }),
        )
    }

    /// Says that imports from `module` come from another instance's
    /// exports, given when each instance is built
    /// ([`InstanceBuilder::link`](crate::InstanceBuilder::link)): loading
    /// accepts them, and instantiation binds and checks them. A module
    /// loaded this way stays independent of any instance: it can be
    /// instantiated any number of times, against different exporters.
    pub fn instance_module(&mut self, module: &str) -> &mut Self {
        self.instance_modules.insert(module.to_string());
        self
    }

    /// Whether imports from `module` are bound at instantiation.
    pub(crate) fn is_instance_module(&self, module: &str) -> bool {
        self.instance_modules.contains(module)
    }

    /// Sets the host that binds the function imports of modules compiled
    /// from components (those the linker does not define by name).
    pub fn component_host(&mut self, host: Arc<dyn ComponentHost>) -> &mut Self {
        self.component_host = Some(ComponentHostRef(host));
        self
    }

    /// The host of components' imports, if one is set.
    pub(crate) fn get_component_host(&self) -> Option<&Arc<dyn ComponentHost>> {
        self.component_host.as_ref().map(|h| &h.0)
    }

    /// When set, function imports that nothing defines resolve to functions
    /// that return zeros instead of failing to load.
    pub fn default_unknown_imports(&mut self, enable: bool) -> &mut Self {
        self.default_unknown_imports = enable;
        self
    }

    /// The host function defined as `module.name`.
    pub fn get_func(&self, module: &str, name: &str) -> Option<&Arc<HostFunc>> {
        match self.get(module, name)? {
            Definition::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The host global defined as `module.name`.
    pub fn get_global(&self, module: &str, name: &str) -> Option<&HostGlobal> {
        match self.get(module, name)? {
            Definition::Global(g) => Some(g),
            _ => None,
        }
    }

    pub(crate) fn get(&self, module: &str, name: &str) -> Option<&Definition> {
        self.defs.get(&(module.to_string(), name.to_string()))
    }

    /// Whether unknown function imports become zero-returning functions.
    pub fn defaults_unknown_imports(&self) -> bool {
        self.default_unknown_imports
    }

    /// A host function of type `ty` that returns zeros.
    pub(crate) fn zero_func(ty: &FuncType) -> Arc<HostFunc> {
        let zeros: Box<[ValRaw]> = ty.results.iter().map(|t| Val::zero(*t).to_raw()).collect();
        Arc::new(HostFunc::new(ty.clone(), zero_trampoline, Box::new(zeros)))
    }
}

/// The entry of the functions `Linker::zero_func` makes: writes the
/// results' zeros. It touches neither the instance nor guest memory, and
/// cannot panic, so it needs none of the host-call glue.
unsafe extern "C" fn zero_trampoline(
    _vmctx: *mut u8,
    data: *const u8,
    values: *mut ValRaw,
    _len: usize,
) {
    // SAFETY: `data` is the boxed slice of zeros this function was made
    // with; `values` has room for the results, as for every host call.
    unsafe {
        let zeros = &*(data as *const Box<[ValRaw]>);
        std::ptr::copy_nonoverlapping(zeros.as_ptr(), values, zeros.len());
    }
}
