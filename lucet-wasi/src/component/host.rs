//! Binding a component's imports: each lowered function becomes a host
//! function that lifts its core arguments into component values (strings
//! and lists read from guest memory, every pointer checked, sizes charged
//! to a per-call budget), calls the interface's implementation, and lowers
//! the result back. A result that holds strings or lists is written once
//! the guest has allocated its blocks: the module's adapter code asks for
//! them one by one ([`ALLOCATION_MODULE`]) and allocates each with the
//! guest's `realloc`, so the host never calls into the guest.

use std::collections::HashMap;
use std::sync::Arc;

use lucet_module::ImportName;
use lucet_runtime::component::{
    allocations, flatten, lift_flat, load, lower_flat, store, AbiError, Budget, ComponentAbi,
    CoreVal, GuestMemory, Lower, LowerKind, Val, ValType, ALLOCATED, ALLOCATION_MODULE,
    MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, PENDING_ALLOCATION,
};
use lucet_runtime::{ComponentHost, FuncType, HostFunc, Vmctx};

use super::ctx::{ComponentCtx, Pending};

/// How many bytes of strings and lists one call may move between guest
/// and host (each way): what the host allocates for a guest's arguments.
pub const MAX_CALL_BYTES: u64 = 16 << 20;

/// Why a host function failed in a way that ends the run: the guest broke
/// the interface's rules (a handle of the wrong type, a pointer out of
/// bounds). Errors the interface defines are results, not this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

impl From<AbiError> for HostError {
    fn from(e: AbiError) -> Self {
        HostError(e.to_string())
    }
}

/// What an implementation returns: the function's result, if it has one.
pub type HostResult = Result<Option<Val>, HostError>;

/// A call's arguments, as the component's type of the function says: a
/// component may declare a host function with fewer parameters than the
/// interface has, so each is asked for, never indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct Args(Vec<Val>);

impl Args {
    /// Argument `i`, or the error of a call that lacks it.
    pub fn at(&self, i: usize) -> Result<&Val, HostError> {
        self.0.get(i).ok_or_else(|| {
            HostError(format!(
                "the component's type of this function has {} parameters, not {}",
                self.0.len(),
                i + 1
            ))
        })
    }
}

type Implementation = Arc<dyn Fn(&mut Vmctx, Args) -> HostResult + Send + Sync>;

/// The interfaces a host implements, by name without version
/// (`wasi:cli/stdout`) and function; a component importing any WASI 0.2
/// version (`@0.2.x`) of an interface gets these.
#[derive(Clone, Default)]
pub struct Interfaces {
    funcs: HashMap<(String, String), Implementation>,
}

impl std::fmt::Debug for Interfaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interfaces({} functions)", self.funcs.len())
    }
}

/// `wasi:cli/stdout@0.2.6` without its version; `None` for a version other
/// than 0.2.x.
fn unversioned(interface: &str) -> Option<&str> {
    match interface.split_once('@') {
        Some((name, version)) if version.starts_with("0.2.") => Some(name),
        Some(_) => None,
        None => Some(interface),
    }
}

impl Interfaces {
    /// No interface.
    pub fn new() -> Interfaces {
        Interfaces::default()
    }

    /// Defines function `name` of `interface` (named without version).
    pub fn func(
        &mut self,
        interface: &str,
        name: &str,
        f: impl Fn(&mut Vmctx, Args) -> HostResult + Send + Sync + 'static,
    ) -> &mut Self {
        self.funcs
            .insert((interface.to_string(), name.to_string()), Arc::new(f));
        self
    }

    /// Whether function `name` of `interface` (a versioned name, as a
    /// component imports it) is defined.
    pub fn defines(&self, interface: &str, name: &str) -> bool {
        self.implementation(interface, name).is_some()
    }

    fn implementation(&self, interface: &str, name: &str) -> Option<&Implementation> {
        self.funcs
            .get(&(unversioned(interface)?.to_string(), name.to_string()))
    }
}

impl ComponentHost for Interfaces {
    fn bind(
        &self,
        abi: &Arc<ComponentAbi>,
        import: &ImportName,
        ty: &FuncType,
    ) -> Option<Arc<HostFunc>> {
        if import.module == ALLOCATION_MODULE {
            let func = match import.name.as_str() {
                PENDING_ALLOCATION => HostFunc::dynamic(ty.clone(), |vmctx, _, results| {
                    match (pending_allocation(vmctx), results.first_mut()) {
                        (Ok(next), Some(slot)) => *slot = lucet_runtime::Val::I64(next),
                        (Ok(_), None) => vmctx.terminate(String::from("no room for the result")),
                        (Err(e), _) => vmctx.terminate(e.0),
                    }
                }),
                ALLOCATED => HostFunc::dynamic(ty.clone(), |vmctx, args, results| {
                    let ptr = match args.first() {
                        Some(lucet_runtime::Val::I32(p)) => *p as u32,
                        _ => vmctx.terminate(String::from("a block's address is not an i32")),
                    };
                    match (allocated(vmctx, ptr), results.first_mut()) {
                        (Ok(left), Some(slot)) => *slot = lucet_runtime::Val::I32(left as i32),
                        (Ok(_), None) => vmctx.terminate(String::from("no room for the result")),
                        (Err(e), _) => vmctx.terminate(e.0),
                    }
                }),
                _ => return None,
            };
            return Some(Arc::new(func));
        }
        let index = abi
            .lowers
            .iter()
            .position(|l| l.module == import.module && l.name == import.name)?;
        let lower = &abi.lowers[index];
        let implementation = match lower.kind {
            LowerKind::Call => Some(self.implementation(&lower.module, &lower.name)?.clone()),
            LowerKind::ResourceDrop { .. } => {
                unversioned(&lower.module)?;
                None
            }
        };
        let abi = abi.clone();
        let shape = Shape::of(lower);
        Some(Arc::new(HostFunc::dynamic(
            ty.clone(),
            move |vmctx, args, results| {
                let lower = &abi.lowers[index];
                let outcome = match &implementation {
                    Some(f) => call(vmctx, lower, &shape, f, args, results),
                    None => drop_resource(vmctx, &abi, lower, args),
                };
                if let Err(e) = outcome {
                    if vmctx.interrupt().requested() {
                        // The run was asked to stop (its deadline, a
                        // kill): it ends so, as this call returns.
                        return;
                    }
                    vmctx.terminate(format!(
                        "{}.{}: {}",
                        lower.module.escape_debug(),
                        lower.name.escape_debug(),
                        e
                    ))
                }
            },
        )))
    }
}

fn core_val(v: &lucet_runtime::Val) -> Result<CoreVal, HostError> {
    Ok(match v {
        lucet_runtime::Val::I32(x) => CoreVal::I32(*x),
        lucet_runtime::Val::I64(x) => CoreVal::I64(*x),
        lucet_runtime::Val::F32(x) => CoreVal::F32(*x),
        lucet_runtime::Val::F64(x) => CoreVal::F64(*x),
        _ => return Err(HostError("an argument is not a number".into())),
    })
}

fn runtime_val(v: CoreVal) -> lucet_runtime::Val {
    match v {
        CoreVal::I32(x) => lucet_runtime::Val::I32(x),
        CoreVal::I64(x) => lucet_runtime::Val::I64(x),
        CoreVal::F32(x) => lucet_runtime::Val::F32(x),
        CoreVal::F64(x) => lucet_runtime::Val::F64(x),
    }
}

/// Guest memory where the host may write but not allocate (results that
/// hold no strings or lists).
struct Fixed<'a>(&'a mut [u8]);

impl GuestMemory for Fixed<'_> {
    fn bytes(&self) -> &[u8] {
        self.0
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.0
    }
    fn alloc(&mut self, _: u32, _: u32) -> Result<u32, AbiError> {
        Err(AbiError::Realloc("this result allocates nothing".into()))
    }
}

/// Guest memory with the blocks the guest allocated for a result, handed
/// out in the order the result's store asks for them.
struct Allocated<'a> {
    memory: &'a mut [u8],
    plan: &'a [(u32, u32)],
    blocks: std::slice::Iter<'a, u32>,
    at: usize,
}

impl GuestMemory for Allocated<'_> {
    fn bytes(&self) -> &[u8] {
        self.memory
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.memory
    }
    fn alloc(&mut self, align: u32, size: u32) -> Result<u32, AbiError> {
        let planned = self.plan.get(self.at).copied();
        self.at += 1;
        match (planned, self.blocks.next()) {
            (Some(p), Some(block)) if p == (align, size) => Ok(*block),
            _ => Err(AbiError::Realloc("the result's blocks changed".into())),
        }
    }
}

fn component_ctx(vmctx: &mut Vmctx) -> Result<&mut ComponentCtx, HostError> {
    vmctx
        .embed_ctx_mut::<ComponentCtx>()
        .ok_or_else(|| HostError("the instance has no ComponentCtx in its embedder context".into()))
}

/// The lowered call: lift, call `f`, lower.
/// How a lowered function's values lie in its core signature, worked out
/// once when it is bound.
struct Shape {
    /// The core values of each parameter.
    params: Vec<usize>,
    /// Their total.
    flat_params: usize,
    /// The core values of the result.
    flat_results: usize,
}

impl Shape {
    fn of(lower: &Lower) -> Shape {
        let sig = &lower.signature;
        let params: Vec<usize> = sig.params.iter().map(|(_, t)| flatten(t).len()).collect();
        Shape {
            flat_params: params.iter().sum(),
            params,
            flat_results: sig.result.as_ref().map_or(0, |t| flatten(t).len()),
        }
    }
}

fn call(
    vmctx: &mut Vmctx,
    lower: &Lower,
    shape: &Shape,
    f: &Implementation,
    args: &[lucet_runtime::Val],
    results: &mut [lucet_runtime::Val],
) -> Result<(), HostError> {
    let core = args
        .iter()
        .map(core_val)
        .collect::<Result<smallvec::SmallVec<[CoreVal; 8]>, _>>()?;
    let sig = &lower.signature;
    let (flat_params, flat_results) = (shape.flat_params, shape.flat_results);
    let (params_core, retptr) = if flat_results > MAX_FLAT_RESULTS {
        match core.split_last() {
            Some((CoreVal::I32(p), rest)) => (rest, Some(*p as u32)),
            _ => return Err(HostError("no pointer for the result".into())),
        }
    } else {
        (&core[..], None)
    };
    let encoding = lower.string_encoding;
    let mut budget = Budget::new(MAX_CALL_BYTES).with_encoding(encoding);
    let params = {
        let memory = vmctx.memory();
        if flat_params > MAX_FLAT_PARAMS {
            let Some(CoreVal::I32(ptr)) = params_core.first() else {
                return Err(HostError("no pointer for the arguments".into()));
            };
            let tuple = ValType::Tuple(sig.params.iter().map(|(_, t)| t.clone()).collect());
            match load(memory, *ptr as u32, &tuple, &mut budget)? {
                Val::Record(values) => values,
                _ => unreachable!("a tuple loads as a record"),
            }
        } else {
            let mut values = Vec::with_capacity(sig.params.len());
            let mut at = 0;
            for ((_, ty), &n) in sig.params.iter().zip(&shape.params) {
                let part = params_core
                    .get(at..at + n)
                    .ok_or_else(|| HostError("too few arguments".into()))?;
                values.push(lift_flat(memory, part, ty, &mut budget)?);
                at += n;
            }
            values
        }
    };
    let result = f(vmctx, Args(params))?;
    let (ty, value) = match (&sig.result, result) {
        (None, None) => return Ok(()),
        (Some(ty), Some(value)) => (ty, value),
        _ => return Err(HostError("the host's result does not fit the type".into())),
    };
    let mut budget = Budget::new(u64::MAX).with_encoding(encoding);
    match retptr {
        None => {
            let flat = lower_flat(&mut Fixed(vmctx.memory_mut()), ty, &value, &mut budget)?;
            for (slot, v) in results.iter_mut().zip(flat) {
                *slot = runtime_val(v);
            }
        }
        Some(retptr) if lower.allocates => {
            let plan = allocations(ty, &value, encoding);
            let wanted = plan.len();
            let pending = Pending {
                ty: ty.clone(),
                value,
                retptr,
                plan,
                blocks: Vec::new(),
                encoding,
            };
            if wanted == 0 {
                finish(vmctx, pending)?;
            } else {
                component_ctx(vmctx)?.pending = Some(pending);
            }
            match results.first_mut() {
                Some(slot) => *slot = lucet_runtime::Val::I32(wanted as i32),
                None => return Err(HostError("no room for the result".into())),
            }
        }
        Some(retptr) => store(
            &mut Fixed(vmctx.memory_mut()),
            retptr,
            ty,
            &value,
            &mut budget,
        )?,
    }
    Ok(())
}

/// Writes a pending result whose blocks are all allocated.
fn finish(vmctx: &mut Vmctx, pending: Pending) -> Result<(), HostError> {
    let mut memory = Allocated {
        memory: vmctx.memory_mut(),
        plan: &pending.plan,
        blocks: pending.blocks.iter(),
        at: 0,
    };
    store(
        &mut memory,
        pending.retptr,
        &pending.ty,
        &pending.value,
        &mut Budget::new(u64::MAX).with_encoding(pending.encoding),
    )?;
    Ok(())
}

/// `pending-allocation`: the next block the pending result needs.
fn pending_allocation(vmctx: &mut Vmctx) -> Result<i64, HostError> {
    let pending = component_ctx(vmctx)?
        .pending
        .as_ref()
        .ok_or_else(|| HostError("no result is waiting for memory".into()))?;
    let (align, size) = pending.plan[pending.blocks.len()];
    Ok(((u64::from(align) << 32) | u64::from(size)) as i64)
}

/// `allocated`: the guest allocated the next block at `ptr`; how many are
/// still wanted.
fn allocated(vmctx: &mut Vmctx, ptr: u32) -> Result<usize, HostError> {
    let ctx = component_ctx(vmctx)?;
    let pending = ctx
        .pending
        .as_mut()
        .ok_or_else(|| HostError("no result is waiting for memory".into()))?;
    pending.blocks.push(ptr);
    let left = pending.plan.len() - pending.blocks.len();
    if left == 0 {
        let pending = ctx.pending.take().expect("checked above");
        finish(vmctx, pending)?;
    }
    Ok(left)
}

/// `[resource-drop]T`: the guest drops its handle.
fn drop_resource(
    vmctx: &mut Vmctx,
    abi: &ComponentAbi,
    lower: &Lower,
    args: &[lucet_runtime::Val],
) -> Result<(), HostError> {
    let LowerKind::ResourceDrop { resource } = lower.kind else {
        unreachable!("only drops have no implementation");
    };
    let name = &abi.resources[resource as usize];
    let handle = match args.first() {
        Some(lucet_runtime::Val::I32(h)) => *h as u32,
        _ => return Err(HostError("no handle to drop".into())),
    };
    let interface = unversioned(&name.interface).unwrap_or(&name.interface);
    component_ctx(vmctx)?.drop_handle(handle, interface, &name.name)
}
