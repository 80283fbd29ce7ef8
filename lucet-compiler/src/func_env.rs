//! The `FuncEnvironment` that tells cranelift-wasm how Lucet lays out an
//! instance: linear memory at `vmctx`, instance data in the header below it
//! (offsets from `lucet_module::InstanceHeader`), tables and funcrefs reached
//! through header pointers, and runtime builtins called through relocations.

use std::collections::HashMap;

use cranelift_codegen::cursor::FuncCursor;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::immediates::Offset32;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlags};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig, TargetIsa};
use cranelift_entity::PrimaryMap;
use cranelift_frontend::FunctionBuilder;
use cranelift_wasm::{
    FuncEnvironment, FuncIndex, FuncTranslationState, GlobalIndex, GlobalVariable, Heap, HeapData,
    HeapStyle, MemoryIndex, TableIndex, TargetEnvironment, TypeConvert, TypeIndex, WasmError,
    WasmFuncType, WasmHeapType, WasmResult, WasmValType,
};
use lucet_module::{Builtin, FuncRef, HeapSpec, InstanceHeader, TableDef, ValType};
use wasmparser::Operator;

use crate::codegen::Settings;
use crate::fuel::FuelCounter;
use crate::parse::{ModuleInfo, Types};

/// Namespace of `UserExternalName`s that name functions of the module's index
/// space (defined functions and import stubs).
pub const NS_FUNCTION: u32 = 0;
/// Namespace of `UserExternalName`s that name runtime builtins.
pub const NS_BUILTIN: u32 = 1;

/// The Cranelift type of a wasm value type.
pub fn ir_type(t: &WasmValType) -> ir::Type {
    match t {
        WasmValType::I32 => types::I32,
        WasmValType::I64 => types::I64,
        WasmValType::F32 => types::F32,
        WasmValType::F64 => types::F64,
        WasmValType::V128 => types::I8X16,
        WasmValType::Ref(_) => types::I64,
    }
}

/// The Cranelift type of one of our value types.
pub fn ir_type_of(t: ValType) -> ir::Type {
    match t {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::Ref(_) => types::I64,
    }
}

/// The native signature of a wasm function: `(vmctx, params...) -> results`.
pub fn native_signature(ty: &WasmFuncType, call_conv: CallConv) -> ir::Signature {
    let mut sig = ir::Signature::new(call_conv);
    sig.params.push(ir::AbiParam::special(
        types::I64,
        ir::ArgumentPurpose::VMContext,
    ));
    sig.params
        .extend(ty.params().iter().map(|t| ir::AbiParam::new(ir_type(t))));
    sig.returns
        .extend(ty.returns().iter().map(|t| ir::AbiParam::new(ir_type(t))));
    sig
}

/// Flags for loads of instance data that never changes while guest code runs.
fn readonly() -> MemFlags {
    MemFlags::trusted()
}

/// Translation environment for one function.
pub struct LucetFuncEnv<'a> {
    info: &'a ModuleInfo<'a>,
    isa: &'a dyn TargetIsa,
    heap_spec: HeapSpec,
    heaps: PrimaryMap<Heap, HeapData>,
    vmctx: Option<ir::GlobalValue>,
    header_loads: HashMap<i32, ir::GlobalValue>,
    builtins: HashMap<Builtin, ir::FuncRef>,
    interruptible: bool,
    count_instructions: bool,
    /// The first variable index after the function's locals.
    fuel_var_index: usize,
    /// The fuel count, once translation of a counting function began.
    fuel: Option<FuelCounter>,
}

impl<'a> LucetFuncEnv<'a> {
    /// An environment for translating one function of `info`.
    pub fn new(info: &'a ModuleInfo<'a>, isa: &'a dyn TargetIsa, settings: Settings) -> Self {
        LucetFuncEnv {
            info,
            isa,
            heap_spec: settings.heap,
            heaps: PrimaryMap::new(),
            vmctx: None,
            header_loads: HashMap::new(),
            builtins: HashMap::new(),
            interruptible: settings.interruptible,
            count_instructions: settings.count_instructions,
            fuel_var_index: 0,
            fuel: None,
        }
    }

    /// Traps with `Interrupt` if the instance's interrupt word is set (at
    /// loop headers).
    fn interrupt_check(&mut self, builder: &mut FunctionBuilder) -> WasmResult<()> {
        if !self.interruptible {
            return Ok(());
        }
        let vmctx = Self::vmctx_value(builder.func)?;
        // An atomic load: other threads set the word while the guest runs,
        // and a plain load in a loop without stores would be hoisted out of
        // it as redundant. (On x86_64 it is still a plain `mov`.)
        let addr = builder
            .ins()
            .iadd_imm(vmctx, InstanceHeader::OFFSET_INTERRUPT as i64);
        let flag = builder
            .ins()
            .atomic_load(types::I64, MemFlags::trusted(), addr);
        builder.ins().trapnz(flag, ir::TrapCode::Interrupt);
        Ok(())
    }

    fn call_conv(&self) -> CallConv {
        self.isa.default_call_conv()
    }

    fn vmctx_gv(&mut self, func: &mut ir::Function) -> ir::GlobalValue {
        *self
            .vmctx
            .get_or_insert_with(|| func.create_global_value(ir::GlobalValueData::VMContext))
    }

    /// A global value loading the pointer-sized header field at `offset`
    /// from vmctx. Only for fields that stay fixed while guest code runs.
    fn header_pointer(&mut self, func: &mut ir::Function, offset: i32) -> ir::GlobalValue {
        if let Some(gv) = self.header_loads.get(&offset) {
            return *gv;
        }
        let vmctx = self.vmctx_gv(func);
        let gv = func.create_global_value(ir::GlobalValueData::Load {
            base: vmctx,
            offset: Offset32::new(offset),
            global_type: types::I64,
            flags: readonly(),
        });
        self.header_loads.insert(offset, gv);
        gv
    }

    fn vmctx_value(func: &ir::Function) -> WasmResult<ir::Value> {
        func.special_param(ir::ArgumentPurpose::VMContext)
            .ok_or_else(|| WasmError::User("function has no vmctx parameter".into()))
    }

    fn builtin(&mut self, func: &mut ir::Function, builtin: Builtin) -> ir::FuncRef {
        if let Some(f) = self.builtins.get(&builtin) {
            return *f;
        }
        let mut sig = ir::Signature::new(self.call_conv());
        sig.params.push(ir::AbiParam::new(types::I64));
        for wide in builtin.params() {
            sig.params.push(ir::AbiParam::new(if *wide {
                types::I64
            } else {
                types::I32
            }));
        }
        if builtin.returns_i32() {
            sig.returns.push(ir::AbiParam::new(types::I32));
        }
        let signature = func.import_signature(sig);
        let name = func.declare_imported_user_function(ir::UserExternalName {
            namespace: NS_BUILTIN,
            index: builtin.index(),
        });
        let f = func.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature,
            colocated: false,
        });
        self.builtins.insert(builtin, f);
        f
    }

    /// Calls `builtin(vmctx, args...)` and returns its result, if any.
    fn call_builtin(
        &mut self,
        pos: &mut FuncCursor,
        builtin: Builtin,
        args: &[ir::Value],
    ) -> WasmResult<Option<ir::Value>> {
        let f = self.builtin(pos.func, builtin);
        let vmctx = Self::vmctx_value(pos.func)?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(vmctx);
        all.extend_from_slice(args);
        let call = pos.ins().call(f, &all);
        Ok(pos.func.dfg.inst_results(call).first().copied())
    }

    /// Calls a builtin that returns a status and traps with `code` when it
    /// is nonzero.
    fn call_checked_builtin(
        &mut self,
        mut pos: FuncCursor,
        builtin: Builtin,
        args: &[ir::Value],
        code: ir::TrapCode,
    ) -> WasmResult<()> {
        let status = self
            .call_builtin(&mut pos, builtin, args)?
            .ok_or_else(|| WasmError::User("builtin has no status result".into()))?;
        pos.ins().trapnz(status, code);
        Ok(())
    }

    /// The address of the `TableDef` of table `index`.
    fn table_def(&mut self, builder: &mut FunctionBuilder, index: TableIndex) -> ir::Value {
        let tables = self.header_pointer(builder.func, InstanceHeader::OFFSET_TABLES);
        let tables = builder.ins().global_value(types::I64, tables);
        builder
            .ins()
            .load(types::I64, readonly(), tables, (index.as_u32() * 8) as i32)
    }

    /// The address of element `index` of table `table`, trapping with
    /// `TableOutOfBounds` when it is outside the table.
    fn table_entry_addr(
        &mut self,
        builder: &mut FunctionBuilder,
        table: TableIndex,
        index: ir::Value,
    ) -> ir::Value {
        let def = self.table_def(builder, table);
        let len = builder
            .ins()
            .load(types::I32, MemFlags::trusted(), def, TableDef::OFFSET_LEN);
        let oob = builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        builder.ins().trapnz(oob, ir::TrapCode::TableOutOfBounds);
        let base = builder
            .ins()
            .load(types::I64, MemFlags::trusted(), def, TableDef::OFFSET_BASE);
        let index = builder.ins().uextend(types::I64, index);
        let offset = builder.ins().ishl_imm(index, 3);
        builder.ins().iadd(base, offset)
    }

    /// The address of the `MemoryDef` that describes memory 0.
    fn memory_def(&mut self, pos: &mut FuncCursor) -> WasmResult<(ir::Value, i32)> {
        let imported = self
            .info
            .memory
            .as_ref()
            .map(|m| m.import.is_some())
            .unwrap_or(false);
        if imported {
            let gv = self.header_pointer(pos.func, InstanceHeader::OFFSET_IMPORTED_MEMORY);
            Ok((pos.ins().global_value(types::I64, gv), 0))
        } else {
            let vmctx = Self::vmctx_value(pos.func)?;
            Ok((vmctx, InstanceHeader::OFFSET_MEMORY_BASE))
        }
    }
}

impl TypeConvert for LucetFuncEnv<'_> {
    fn lookup_heap_type(&self, index: wasmparser::UnpackedIndex) -> WasmHeapType {
        Types.lookup_heap_type(index)
    }

    fn lookup_type_index(
        &self,
        index: wasmparser::UnpackedIndex,
    ) -> cranelift_wasm::EngineOrModuleTypeIndex {
        Types.lookup_type_index(index)
    }
}

impl TargetEnvironment for LucetFuncEnv<'_> {
    fn target_config(&self) -> TargetFrontendConfig {
        self.isa.frontend_config()
    }

    fn heap_access_spectre_mitigation(&self) -> bool {
        true
    }

    fn proof_carrying_code(&self) -> bool {
        false
    }

    fn reference_type(&self, _ty: WasmHeapType) -> (ir::Type, bool) {
        (types::I64, false)
    }
}

fn unsupported<T>(what: &str) -> WasmResult<T> {
    Err(WasmError::Unsupported(what.to_string()))
}

impl FuncEnvironment for LucetFuncEnv<'_> {
    fn param_needs_stack_map(&self, _signature: &ir::Signature, _index: usize) -> bool {
        false
    }

    fn sig_ref_result_needs_stack_map(&self, _sig_ref: ir::SigRef, _index: usize) -> bool {
        false
    }

    fn func_ref_result_needs_stack_map(
        &self,
        _func: &ir::Function,
        _func_ref: ir::FuncRef,
        _index: usize,
    ) -> bool {
        false
    }

    fn make_global(
        &mut self,
        func: &mut ir::Function,
        index: GlobalIndex,
    ) -> WasmResult<GlobalVariable> {
        let spec = self
            .info
            .globals
            .get(index.as_u32() as usize)
            .ok_or_else(|| WasmError::User(format!("no global {}", index.as_u32())))?;
        let ty = ir_type_of(spec.ty);
        let slot = (index.as_u32() * InstanceHeader::GLOBAL_SLOT_SIZE) as i32;
        let globals = self.header_pointer(func, InstanceHeader::OFFSET_GLOBALS);
        if spec.import.is_some() {
            // The slot of an imported global holds a pointer to its storage,
            // which may belong to another instance.
            let ptr = func.create_global_value(ir::GlobalValueData::Load {
                base: globals,
                offset: Offset32::new(slot),
                global_type: types::I64,
                flags: readonly(),
            });
            Ok(GlobalVariable::Memory {
                gv: ptr,
                offset: Offset32::new(0),
                ty,
            })
        } else {
            Ok(GlobalVariable::Memory {
                gv: globals,
                offset: Offset32::new(slot),
                ty,
            })
        }
    }

    fn heaps(&self) -> &PrimaryMap<Heap, HeapData> {
        &self.heaps
    }

    fn make_heap(&mut self, func: &mut ir::Function, index: MemoryIndex) -> WasmResult<Heap> {
        if index.as_u32() != 0 {
            return unsupported("multiple memories");
        }
        let mem = self
            .info
            .memory
            .as_ref()
            .ok_or_else(|| WasmError::User("memory access without a memory".into()))?;
        let base = if mem.import.is_some() {
            let def = self.header_pointer(func, InstanceHeader::OFFSET_IMPORTED_MEMORY);
            func.create_global_value(ir::GlobalValueData::Load {
                base: def,
                offset: Offset32::new(0),
                global_type: types::I64,
                flags: readonly(),
            })
        } else {
            self.vmctx_gv(func)
        };
        let wasm_page = 1u64 << 16;
        Ok(self.heaps.push(HeapData {
            base,
            min_size: mem.initial_pages.saturating_mul(wasm_page),
            max_size: mem.max_pages.map(|m| m.saturating_mul(wasm_page)),
            offset_guard_size: self.heap_spec.guard_size,
            style: HeapStyle::Static {
                bound: self.heap_spec.reserved_size,
            },
            index_type: types::I32,
            memory_type: None,
            page_size_log2: 16,
        }))
    }

    fn make_indirect_sig(
        &mut self,
        func: &mut ir::Function,
        index: TypeIndex,
    ) -> WasmResult<ir::SigRef> {
        let ty = self
            .info
            .wasm_types
            .get(index.as_u32() as usize)
            .ok_or_else(|| WasmError::User(format!("no type {}", index.as_u32())))?;
        Ok(func.import_signature(native_signature(ty, self.call_conv())))
    }

    fn make_direct_func(
        &mut self,
        func: &mut ir::Function,
        index: FuncIndex,
    ) -> WasmResult<ir::FuncRef> {
        let decl = self
            .info
            .functions
            .get(index.as_u32() as usize)
            .ok_or_else(|| WasmError::User(format!("no function {}", index.as_u32())))?;
        let ty = &self.info.wasm_types[decl.type_index as usize];
        let signature = func.import_signature(native_signature(ty, self.call_conv()));
        let name = func.declare_imported_user_function(ir::UserExternalName {
            namespace: NS_FUNCTION,
            index: index.as_u32(),
        });
        Ok(func.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature,
            colocated: true,
        }))
    }

    fn translate_call(
        &mut self,
        builder: &mut FunctionBuilder,
        _callee_index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        let vmctx = Self::vmctx_value(builder.func)?;
        let mut args = Vec::with_capacity(call_args.len() + 1);
        args.push(vmctx);
        args.extend_from_slice(call_args);
        Ok(builder.ins().call(callee, &args))
    }

    fn translate_call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        sig_ref: ir::SigRef,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> WasmResult<Option<ir::Inst>> {
        let entry = self.table_entry_addr(builder, table_index, callee);
        let funcref = builder
            .ins()
            .load(types::I64, MemFlags::trusted(), entry, 0);
        builder
            .ins()
            .trapz(funcref, ir::TrapCode::IndirectCallToNull);

        // Signature check against the process-wide id of `sig_index`.
        let type_ids = self.header_pointer(builder.func, InstanceHeader::OFFSET_TYPE_IDS);
        let type_ids = builder.ins().global_value(types::I64, type_ids);
        let expected = builder.ins().load(
            types::I32,
            readonly(),
            type_ids,
            (sig_index.as_u32() * 4) as i32,
        );
        let expected = builder.ins().uextend(types::I64, expected);
        let actual = builder.ins().load(
            types::I64,
            MemFlags::trusted().with_readonly(),
            funcref,
            FuncRef::OFFSET_TYPE_ID,
        );
        let mismatch = builder.ins().icmp(IntCC::NotEqual, expected, actual);
        builder.ins().trapnz(mismatch, ir::TrapCode::BadSignature);

        let code = builder.ins().load(
            types::I64,
            MemFlags::trusted().with_readonly(),
            funcref,
            FuncRef::OFFSET_CODE,
        );
        let callee_vmctx = builder.ins().load(
            types::I64,
            MemFlags::trusted().with_readonly(),
            funcref,
            FuncRef::OFFSET_VMCTX,
        );
        let mut args = Vec::with_capacity(call_args.len() + 1);
        args.push(callee_vmctx);
        args.extend_from_slice(call_args);
        Ok(Some(builder.ins().call_indirect(sig_ref, code, &args)))
    }

    fn translate_return_call_indirect(
        &mut self,
        _builder: &mut FunctionBuilder,
        _table_index: TableIndex,
        _sig_index: TypeIndex,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("tail calls")
    }

    fn translate_return_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("tail calls")
    }

    fn translate_return_call(
        &mut self,
        _builder: &mut FunctionBuilder,
        _callee_index: FuncIndex,
        _callee: ir::FuncRef,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("tail calls")
    }

    fn translate_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        unsupported("typed function references")
    }

    fn translate_memory_grow(
        &mut self,
        mut pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        val: ir::Value,
    ) -> WasmResult<ir::Value> {
        self.call_builtin(&mut pos, Builtin::MemoryGrow, &[val])?
            .ok_or_else(|| WasmError::User("memory.grow builtin has no result".into()))
    }

    fn translate_memory_size(
        &mut self,
        mut pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
    ) -> WasmResult<ir::Value> {
        let (def, base_offset) = self.memory_def(&mut pos)?;
        let len = pos
            .ins()
            .load(types::I64, MemFlags::trusted(), def, base_offset + 8);
        let pages = pos.ins().ushr_imm(len, 16);
        Ok(pos.ins().ireduce(types::I32, pages))
    }

    fn translate_memory_copy(
        &mut self,
        pos: FuncCursor,
        _src_index: MemoryIndex,
        _src_heap: Heap,
        _dst_index: MemoryIndex,
        _dst_heap: Heap,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        self.call_checked_builtin(
            pos,
            Builtin::MemoryCopy,
            &[dst, src, len],
            ir::TrapCode::HeapOutOfBounds,
        )
    }

    fn translate_memory_fill(
        &mut self,
        pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        self.call_checked_builtin(
            pos,
            Builtin::MemoryFill,
            &[dst, val, len],
            ir::TrapCode::HeapOutOfBounds,
        )
    }

    fn translate_memory_init(
        &mut self,
        mut pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        seg_index: u32,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let seg = pos.ins().iconst(types::I32, seg_index as i64);
        self.call_checked_builtin(
            pos,
            Builtin::MemoryInit,
            &[seg, dst, src, len],
            ir::TrapCode::HeapOutOfBounds,
        )
    }

    fn translate_data_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = pos.ins().iconst(types::I32, seg_index as i64);
        self.call_builtin(&mut pos, Builtin::DataDrop, &[seg])?;
        Ok(())
    }

    fn translate_table_size(
        &mut self,
        mut pos: FuncCursor,
        index: TableIndex,
    ) -> WasmResult<ir::Value> {
        let tables = self.header_pointer(pos.func, InstanceHeader::OFFSET_TABLES);
        let tables = pos.ins().global_value(types::I64, tables);
        let def = pos
            .ins()
            .load(types::I64, readonly(), tables, (index.as_u32() * 8) as i32);
        Ok(pos
            .ins()
            .load(types::I32, MemFlags::trusted(), def, TableDef::OFFSET_LEN))
    }

    fn translate_table_grow(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        delta: ir::Value,
        init_value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let table = pos.ins().iconst(types::I32, table_index.as_u32() as i64);
        self.call_builtin(&mut pos, Builtin::TableGrow, &[table, delta, init_value])?
            .ok_or_else(|| WasmError::User("table.grow builtin has no result".into()))
    }

    fn translate_table_get(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        index: ir::Value,
    ) -> WasmResult<ir::Value> {
        let addr = self.table_entry_addr(builder, table_index, index);
        Ok(builder.ins().load(types::I64, MemFlags::trusted(), addr, 0))
    }

    fn translate_table_set(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        value: ir::Value,
        index: ir::Value,
    ) -> WasmResult<()> {
        let addr = self.table_entry_addr(builder, table_index, index);
        builder.ins().store(MemFlags::trusted(), value, addr, 0);
        // Mark the table written, so a reused slot restores it.
        let def = self.table_def(builder, table_index);
        let one = builder.ins().iconst(types::I32, 1);
        builder
            .ins()
            .store(MemFlags::trusted(), one, def, TableDef::OFFSET_WRITTEN);
        Ok(())
    }

    fn translate_table_copy(
        &mut self,
        mut pos: FuncCursor,
        dst_table_index: TableIndex,
        src_table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let dt = pos
            .ins()
            .iconst(types::I32, dst_table_index.as_u32() as i64);
        let st = pos
            .ins()
            .iconst(types::I32, src_table_index.as_u32() as i64);
        self.call_checked_builtin(
            pos,
            Builtin::TableCopy,
            &[dt, st, dst, src, len],
            ir::TrapCode::TableOutOfBounds,
        )
    }

    fn translate_table_fill(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let t = pos.ins().iconst(types::I32, table_index.as_u32() as i64);
        self.call_checked_builtin(
            pos,
            Builtin::TableFill,
            &[t, dst, val, len],
            ir::TrapCode::TableOutOfBounds,
        )
    }

    fn translate_table_init(
        &mut self,
        mut pos: FuncCursor,
        seg_index: u32,
        table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let t = pos.ins().iconst(types::I32, table_index.as_u32() as i64);
        let seg = pos.ins().iconst(types::I32, seg_index as i64);
        self.call_checked_builtin(
            pos,
            Builtin::TableInit,
            &[t, seg, dst, src, len],
            ir::TrapCode::TableOutOfBounds,
        )
    }

    fn translate_elem_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = pos.ins().iconst(types::I32, seg_index as i64);
        self.call_builtin(&mut pos, Builtin::ElemDrop, &[seg])?;
        Ok(())
    }

    fn translate_ref_null(
        &mut self,
        mut pos: FuncCursor,
        _ty: WasmHeapType,
    ) -> WasmResult<ir::Value> {
        Ok(pos.ins().iconst(types::I64, 0))
    }

    fn translate_ref_is_null(
        &mut self,
        mut pos: FuncCursor,
        value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let is_null = pos.ins().icmp_imm(IntCC::Equal, value, 0);
        Ok(pos.ins().uextend(types::I32, is_null))
    }

    fn translate_ref_func(
        &mut self,
        mut pos: FuncCursor,
        func_index: FuncIndex,
    ) -> WasmResult<ir::Value> {
        let slot = self
            .info
            .escaping
            .binary_search(&func_index.as_u32())
            .map_err(|_| WasmError::InvalidWebAssembly {
                message: format!("undeclared function reference {}", func_index.as_u32()),
                offset: 0,
            })?;
        let funcrefs = self.header_pointer(pos.func, InstanceHeader::OFFSET_FUNCREFS);
        let base = pos.ins().global_value(types::I64, funcrefs);
        Ok(pos.ins().iadd_imm(base, slot as i64 * FuncRef::SIZE as i64))
    }

    fn translate_custom_global_get(
        &mut self,
        _builder: &mut FunctionBuilder,
        _global_index: GlobalIndex,
    ) -> WasmResult<ir::Value> {
        unsupported("custom globals")
    }

    fn translate_custom_global_set(
        &mut self,
        _builder: &mut FunctionBuilder,
        _global_index: GlobalIndex,
        _val: ir::Value,
    ) -> WasmResult<()> {
        unsupported("custom globals")
    }

    fn translate_atomic_wait(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _expected: ir::Value,
        _timeout: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("threads")
    }

    fn translate_atomic_notify(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _count: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("threads")
    }

    fn translate_ref_i31(&mut self, _pos: FuncCursor, _val: ir::Value) -> WasmResult<ir::Value> {
        unsupported("GC")
    }

    fn translate_i31_get_s(
        &mut self,
        _pos: FuncCursor,
        _i31ref: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("GC")
    }

    fn translate_i31_get_u(
        &mut self,
        _pos: FuncCursor,
        _i31ref: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("GC")
    }

    // No check at function entry: every function that calls or has a frame
    // checks the stack limit in its prologue, and the runtime interrupts
    // those by raising the limit out of reach (a leaf without a frame or a
    // loop ends by itself).
    fn translate_loop_header(&mut self, builder: &mut FunctionBuilder) -> WasmResult<()> {
        if let Some(fuel) = &mut self.fuel {
            fuel.check(builder);
        }
        self.interrupt_check(builder)
    }

    fn after_locals(&mut self, num_locals_defined: usize) {
        self.fuel_var_index = num_locals_defined;
    }

    fn before_translate_function(
        &mut self,
        builder: &mut FunctionBuilder,
        _state: &FuncTranslationState,
    ) -> WasmResult<()> {
        if self.count_instructions {
            self.fuel = Some(FuelCounter::function_entry(builder, self.fuel_var_index)?);
        }
        Ok(())
    }

    fn before_translate_operator(
        &mut self,
        op: &Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) -> WasmResult<()> {
        if let Some(fuel) = &mut self.fuel {
            if state.reachable() {
                fuel.before_op(op, builder);
            }
        }
        Ok(())
    }

    fn after_translate_operator(
        &mut self,
        op: &Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) -> WasmResult<()> {
        if let Some(fuel) = &mut self.fuel {
            if state.reachable() {
                fuel.after_op(op, builder);
            }
        }
        Ok(())
    }

    fn before_unconditionally_trapping_memory_access(
        &mut self,
        builder: &mut FunctionBuilder,
    ) -> WasmResult<()> {
        if let Some(fuel) = &mut self.fuel {
            fuel.before_exit(builder);
        }
        Ok(())
    }

    fn handle_before_return(&mut self, _retvals: &[ir::Value], builder: &mut FunctionBuilder) {
        if let Some(fuel) = &mut self.fuel {
            fuel.before_exit(builder);
        }
    }

    fn has_native_fma(&self) -> bool {
        self.isa.has_native_fma()
    }

    fn is_x86(&self) -> bool {
        // `codegen::target_isa` only builds x86_64 ISAs.
        true
    }
}
