//! How generated code reaches an instance: `vmctx` (the first parameter of
//! every function, the base of memory 0) and the instance header below it
//! (offsets from `lucet_module::InstanceHeader`), runtime builtins called
//! through relocations, and the signatures and calling conventions of wasm
//! functions.

use std::collections::HashMap;

use cranelift_codegen::ir::immediates::Offset32;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use lucet_module::{Builtin, BuiltinType, FuncType, InstanceHeader, ValType};

use cranelift_codegen::isa::TargetIsa;
use lucet_module::HeapSpec;

use super::traps;
use crate::parse::ModuleInfo;
use crate::RelaxedSimd;

/// How functions are translated.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The heap layout code is generated for.
    pub heap: HeapSpec,
    /// Whether to check for interruption.
    pub interruptible: bool,
    /// Whether to count instructions against the instance's fuel.
    pub count_instructions: bool,
    /// How relaxed SIMD operators compute.
    pub relaxed_simd: RelaxedSimd,
}

/// What every function's translation shares: the module and the target.
#[derive(Clone, Copy)]
pub struct ModuleEnv<'a> {
    pub info: &'a ModuleInfo<'a>,
    pub isa: &'a dyn TargetIsa,
    pub settings: Settings,
}

/// Namespace of `UserExternalName`s that name functions of the module's index
/// space (defined functions and import stubs).
pub const NS_FUNCTION: u32 = 0;
/// Namespace of `UserExternalName`s that name runtime builtins.
pub const NS_BUILTIN: u32 = 1;

/// The calling convention of wasm functions: Cranelift's `tail`, so that
/// `return_call` runs in constant stack space, and exceptions unwind to
/// handlers with their payload in fixed registers.
pub fn wasm_call_conv() -> CallConv {
    CallConv::Tail
}

/// The Cranelift type of a wasm value type. References are pointers.
pub fn ir_type(t: ValType) -> ir::Type {
    match t {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::Ref(_) => types::I64,
    }
}

/// The Cranelift type of a (validated) wasmparser value type.
pub fn wasm_ir_type(t: wasmparser::ValType) -> ir::Type {
    match t {
        wasmparser::ValType::I32 => types::I32,
        wasmparser::ValType::I64 => types::I64,
        wasmparser::ValType::F32 => types::F32,
        wasmparser::ValType::F64 => types::F64,
        wasmparser::ValType::V128 => types::I8X16,
        wasmparser::ValType::Ref(_) => types::I64,
    }
}

/// The native signature of a wasm function: `(vmctx, params...) ->
/// results`, in the wasm calling convention.
pub fn native_signature(ty: &FuncType) -> ir::Signature {
    let mut sig = ir::Signature::new(wasm_call_conv());
    sig.params.push(ir::AbiParam::special(
        types::I64,
        ir::ArgumentPurpose::VMContext,
    ));
    sig.params
        .extend(ty.params.iter().map(|t| ir::AbiParam::new(ir_type(*t))));
    sig.returns
        .extend(ty.results.iter().map(|t| ir::AbiParam::new(ir_type(*t))));
    sig
}

/// The zero (or null) value of a Cranelift type.
pub fn zero_value(b: &mut FunctionBuilder<'_>, ty: ir::Type) -> ir::Value {
    match ty {
        types::F32 => b.ins().f32const(0.0),
        types::F64 => b.ins().f64const(0.0),
        ty if ty.is_vector() => {
            let c = b.func.dfg.constants.insert(vec![0u8; 16].into());
            b.ins().vconst(ty, c)
        }
        ty => b.ins().iconst(ty, 0),
    }
}

/// Flags of loads of instance data that stays fixed while guest code runs.
pub fn fixed() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// Flags of loads and stores of instance data that guest code changes.
pub fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// The per-function view of the instance layout, with caches of what the
/// function has already declared or loaded.
pub struct FuncEnv<'m> {
    pub module: ModuleEnv<'m>,
    /// The function's `vmctx` parameter.
    pub vmctx: ir::Value,
    builtins: HashMap<Builtin, ir::FuncRef>,
    functions: HashMap<u32, ir::FuncRef>,
    signatures: HashMap<u32, ir::SigRef>,
    /// Values of instance data loaded in the current block.
    loaded: HashMap<Cached, (ir::Block, ir::Value)>,
}

/// Instance data that stays fixed while guest code runs, loaded at most
/// once per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cached {
    /// A pointer-sized header field, by offset from vmctx.
    Header(i32),
    /// The base address of a memory, by index.
    MemoryBase(u32),
}

impl<'m> FuncEnv<'m> {
    pub fn new(module: ModuleEnv<'m>, vmctx: ir::Value) -> Self {
        FuncEnv {
            module,
            vmctx,
            builtins: HashMap::new(),
            functions: HashMap::new(),
            signatures: HashMap::new(),
            loaded: HashMap::new(),
        }
    }

    /// The value of `key`, made by `load` unless the current block has
    /// it already.
    pub fn cached(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        key: Cached,
        load: impl FnOnce(&mut Self, &mut FunctionBuilder<'_>) -> ir::Value,
    ) -> ir::Value {
        let block = b.current_block().expect("translating inside a block");
        if let Some((in_block, v)) = self.loaded.get(&key) {
            if *in_block == block {
                return *v;
            }
        }
        let v = load(self, b);
        self.loaded.insert(key, (block, v));
        v
    }

    /// The value of `key`, if the current block has loaded it.
    pub fn cached_in_block(&self, b: &mut FunctionBuilder<'_>, key: Cached) -> Option<ir::Value> {
        let block = b.current_block()?;
        self.loaded
            .get(&key)
            .filter(|(in_block, _)| *in_block == block)
            .map(|(_, v)| *v)
    }

    /// The pointer-sized header field at `offset` from vmctx, which stays
    /// fixed while guest code runs.
    pub fn header_pointer(&mut self, b: &mut FunctionBuilder<'_>, offset: i32) -> ir::Value {
        self.cached(b, Cached::Header(offset), |env, b| {
            b.ins().load(types::I64, fixed(), env.vmctx, offset)
        })
    }

    /// The instance's interrupt word (nonzero: a kill switch stopped the
    /// run).
    pub fn interrupt_word(&mut self, b: &mut FunctionBuilder<'_>) -> ir::Value {
        // An atomic load: other threads set the word while the guest runs,
        // and a plain load in a loop without stores could be hoisted out of
        // it. (On x86_64 it is still a plain `mov`.)
        let addr = b
            .ins()
            .iadd_imm_s(self.vmctx, InstanceHeader::OFFSET_INTERRUPT as i64);
        b.ins().atomic_load(types::I64, trusted(), addr)
    }

    /// The signature of type `index`, imported into the function.
    pub fn signature(&mut self, b: &mut FunctionBuilder<'_>, index: u32) -> ir::SigRef {
        if let Some(s) = self.signatures.get(&index) {
            return *s;
        }
        let sig = native_signature(self.module.info.type_at(index));
        let s = b.import_signature(sig);
        self.signatures.insert(index, s);
        s
    }

    /// A reference to function `index` of the module's index space (its
    /// body, or its import stub), for direct calls.
    pub fn function(&mut self, b: &mut FunctionBuilder<'_>, index: u32) -> ir::FuncRef {
        if let Some(f) = self.functions.get(&index) {
            return *f;
        }
        let sig = native_signature(self.module.info.func_type(index));
        let signature = b.import_signature(sig);
        let name = b.func.declare_imported_user_function(ir::UserExternalName {
            namespace: NS_FUNCTION,
            index,
        });
        let f = b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.functions.insert(index, f);
        f
    }

    pub fn builtin(&mut self, b: &mut FunctionBuilder<'_>, builtin: Builtin) -> ir::FuncRef {
        if let Some(f) = self.builtins.get(&builtin) {
            return *f;
        }
        let call_conv = if builtin.unwinds() {
            wasm_call_conv()
        } else if builtin.preserves_registers() {
            CallConv::PreserveAll
        } else {
            self.module.isa.default_call_conv()
        };
        let mut sig = ir::Signature::new(call_conv);
        if builtin.takes_vmctx() {
            sig.params.push(ir::AbiParam::new(types::I64));
        }
        let ir = |t: BuiltinType| match t {
            BuiltinType::I32 => types::I32,
            BuiltinType::I64 => types::I64,
        };
        for t in builtin.params() {
            sig.params.push(ir::AbiParam::new(ir(*t)));
        }
        if let Some(t) = builtin.result() {
            sig.returns.push(ir::AbiParam::new(ir(t)));
        }
        let signature = b.import_signature(sig);
        let name = b.func.declare_imported_user_function(ir::UserExternalName {
            namespace: NS_BUILTIN,
            index: builtin.index(),
        });
        // A near call: to the builtin's stub at the end of `.text`.
        let f = b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.builtins.insert(builtin, f);
        f
    }

    /// Calls `builtin(vmctx, args...)` (without `vmctx` if it takes none)
    /// and returns its result, if any.
    pub fn call_builtin(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        builtin: Builtin,
        args: &[ir::Value],
    ) -> Option<ir::Value> {
        let f = self.builtin(b, builtin);
        let mut all = Vec::with_capacity(args.len() + 1);
        if builtin.takes_vmctx() {
            all.push(self.vmctx);
        }
        all.extend_from_slice(args);
        let call = b.ins().call(f, &all);
        b.inst_results(call).first().copied()
    }

    /// Calls a builtin that returns a status and traps with `code` when it
    /// is nonzero.
    pub fn call_checked_builtin(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        builtin: Builtin,
        args: &[ir::Value],
        code: ir::TrapCode,
    ) {
        let status = self
            .call_builtin(b, builtin, args)
            .expect("checked builtins return a status");
        self.trap_if(b, status, code);
    }

    /// Ends the run with the trap `code` through the `Trap` builtin: a call
    /// that switches straight to the host, without a fault or a signal
    /// (which cost microseconds each, far more under virtualisation). The
    /// block ends; what follows is unreachable.
    pub fn trap(&mut self, b: &mut FunctionBuilder<'_>, code: ir::TrapCode) {
        let number = i64::from(traps::lucet_trap(code).number());
        let number = b.ins().iconst(types::I32, number);
        self.call_builtin(b, Builtin::Trap, &[number]);
        // Never reached: the builtin does not return. The trap instruction
        // ends the block, and the runtime attributes the builtin's trap to
        // it (its address is the call's return address).
        b.ins().trap(code);
    }

    /// Traps with `code` when `condition` is nonzero.
    pub fn trap_if(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        condition: ir::Value,
        code: ir::TrapCode,
    ) {
        self.trap_when(b, condition, true, code);
    }

    /// Traps with `code` when `condition` is zero.
    pub fn trap_unless(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        condition: ir::Value,
        code: ir::TrapCode,
    ) {
        self.trap_when(b, condition, false, code);
    }

    /// A branch to a cold block that traps; translation goes on in a new
    /// block.
    fn trap_when(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        condition: ir::Value,
        nonzero: bool,
        code: ir::TrapCode,
    ) {
        self.cold_exit(b, condition, nonzero, |env, b| env.trap(b, code));
    }

    /// Branches to a cold block when `condition` is nonzero (`nonzero`) or
    /// zero, where `exit` emits code that leaves the run and ends the
    /// block; translation goes on in a new block that the current one
    /// dominates, so what it had loaded stays usable.
    pub fn cold_exit(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        condition: ir::Value,
        nonzero: bool,
        exit: impl FnOnce(&mut Self, &mut FunctionBuilder<'_>),
    ) {
        let from = b.current_block().expect("translating inside a block");
        let cold = b.create_block();
        let go_on = b.create_block();
        b.set_cold_block(cold);
        if nonzero {
            b.ins().brif(condition, cold, &[], go_on, &[]);
        } else {
            b.ins().brif(condition, go_on, &[], cold, &[]);
        }
        b.seal_block(cold);
        b.seal_block(go_on);
        b.switch_to_block(cold);
        exit(self, b);
        b.switch_to_block(go_on);
        for (block, _) in self.loaded.values_mut() {
            if *block == from {
                *block = go_on;
            }
        }
    }

    /// Branches to a cold block when `condition` is nonzero, where
    /// `detour` emits code that comes back (a call that may yield); both
    /// paths go on in a new block that the current one dominates, so what
    /// it had loaded stays usable.
    pub fn cold_detour(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        condition: ir::Value,
        detour: impl FnOnce(&mut Self, &mut FunctionBuilder<'_>),
    ) {
        let from = b.current_block().expect("translating inside a block");
        let cold = b.create_block();
        let go_on = b.create_block();
        b.set_cold_block(cold);
        b.ins().brif(condition, cold, &[], go_on, &[]);
        b.seal_block(cold);
        b.switch_to_block(cold);
        detour(self, b);
        b.ins().jump(go_on, &[]);
        // Both predecessors are known now.
        b.seal_block(go_on);
        b.switch_to_block(go_on);
        for (block, _) in self.loaded.values_mut() {
            if *block == from {
                *block = go_on;
            }
        }
    }
}

/// Makes `func` check the stack limit stored in the instance header.
pub fn set_stack_limit(func: &mut ir::Function) {
    let vmctx = func.create_global_value(ir::GlobalValueData::VMContext);
    // Not `readonly`: a kill switch raises the limit while the guest runs.
    let flags = func.dfg.mem_flags.insert_unchecked(MemFlagsData::trusted());
    let limit = func.create_global_value(ir::GlobalValueData::Load {
        base: vmctx,
        offset: Offset32::new(InstanceHeader::OFFSET_STACK_LIMIT),
        global_type: types::I64,
        flags,
    });
    func.stack_limit = Some(limit);
}
