//! Glue functions generated as CLIF next to the module's own functions.
//!
//! - An *array trampoline* lets the host call a wasm function without knowing
//!   its signature at compile time: `(vmctx, data, values, len)` reads the
//!   arguments from `values` (16 bytes each), calls the function with the
//!   native convention and writes the results back over `values`.
//! - An *import stub* is the native-convention body of an imported function:
//!   for another instance's function it tail-calls that function's native
//!   entry (from the instance's `FuncImport` entry); for a host function it
//!   records its caller's frame in the instance header (for the garbage
//!   collector), spills its arguments into a stack buffer and makes the
//!   array call.

use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData, UserFuncName};
use cranelift_codegen::isa::{CallConv, TargetIsa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lucet_module::{FuncImport, FuncType, InstanceHeader, ARRAY_CALL_VALUE_SIZE};

use crate::translate::{ir_type, native_signature, set_stack_limit, NS_FUNCTION};

/// Namespace of the names of trampolines (for messages only).
pub const NS_TRAMPOLINE: u32 = 2;

/// The array calling convention: `(vmctx, data, values, len) -> ()`.
pub fn array_signature(call_conv: CallConv) -> ir::Signature {
    let mut sig = ir::Signature::new(call_conv);
    sig.params.push(ir::AbiParam::special(
        types::I64,
        ir::ArgumentPurpose::VMContext,
    ));
    sig.params.push(ir::AbiParam::new(types::I64));
    sig.params.push(ir::AbiParam::new(types::I64));
    sig.params.push(ir::AbiParam::new(types::I64));
    sig
}

fn value_offset(i: usize) -> i32 {
    (i as u32 * ARRAY_CALL_VALUE_SIZE) as i32
}

/// The array trampoline of function `func_index` with type `ty`.
pub fn array_trampoline(func_index: u32, ty: &FuncType, isa: &dyn TargetIsa) -> ir::Function {
    let call_conv = isa.default_call_conv();
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(NS_TRAMPOLINE, func_index),
        array_signature(call_conv),
    );
    set_stack_limit(&mut func);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let params = b.block_params(block).to_vec();
    let (vmctx, values) = (params[0], params[2]);

    let mut args = vec![vmctx];
    for (i, t) in ty.params.iter().enumerate() {
        args.push(b.ins().load(
            ir_type(*t),
            MemFlagsData::trusted(),
            values,
            value_offset(i),
        ));
    }
    let sig = b.import_signature(native_signature(ty));
    let name = b.func.declare_imported_user_function(ir::UserExternalName {
        namespace: NS_FUNCTION,
        index: func_index,
    });
    let callee = b.import_function(ir::ExtFuncData {
        name: ir::ExternalName::User(name),
        signature: sig,
        colocated: true,
        patchable: false,
    });
    let call = b.ins().call(callee, &args);
    let results = b.inst_results(call).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        b.ins()
            .store(MemFlagsData::trusted(), r, values, value_offset(i));
    }
    b.ins().return_(&[]);
    b.finalize(isa.frontend_config());
    func
}

/// The native-convention stub of imported function `import_index` (which
/// records its caller's frame for the collector with `record_exit_frame`). Calls
/// to the import are direct calls to it. When the import is another
/// instance's function (its `FuncImport` has a native entry), the stub
/// tail-calls it, so calls and tail calls between instances go straight to
/// the other instance's code without a frame of their own; otherwise
/// (a host function) it spills the arguments and makes the array call.
pub fn import_stub(
    import_index: u32,
    ty: &FuncType,
    record_exit_frame: bool,
    isa: &dyn TargetIsa,
) -> ir::Function {
    let call_conv = isa.default_call_conv();
    let mut func = ir::Function::with_name_signature(
        UserFuncName::user(NS_FUNCTION, import_index),
        native_signature(ty),
    );
    set_stack_limit(&mut func);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let params = b.block_params(block).to_vec();
    let vmctx = params[0];

    let flags = MemFlagsData::trusted().with_readonly();
    let imports = b.ins().load(
        types::I64,
        flags,
        vmctx,
        InstanceHeader::OFFSET_FUNC_IMPORTS,
    );
    let entry = (import_index * FuncImport::SIZE) as i32;
    let native = b.ins().load(
        types::I64,
        flags,
        imports,
        entry + FuncImport::OFFSET_NATIVE_CODE,
    );
    let forward = b.create_block();
    let host = b.create_block();
    b.ins().brif(native, forward, &[], host, &[]);
    b.seal_block(forward);
    b.seal_block(host);

    // Another instance's function: a tail call with its vmctx.
    b.switch_to_block(forward);
    let native_vmctx = b.ins().load(
        types::I64,
        flags,
        imports,
        entry + FuncImport::OFFSET_NATIVE_VMCTX,
    );
    let mut args = vec![native_vmctx];
    args.extend_from_slice(&params[1..]);
    let sig = b.import_signature(native_signature(ty));
    b.ins().return_call_indirect(sig, native, &args);

    // A host function: the array call. In a module that can hold GC
    // references (`record_exit_frame`), the caller's frame (this frame's
    // record: its frame pointer and return address) goes to the header
    // first, where the collector starts its walk of the guest's frames if
    // the host function collects garbage; other modules have no objects,
    // and their host calls pay nothing for it.
    b.switch_to_block(host);
    if record_exit_frame {
        let fp = b.ins().get_frame_pointer(types::I64);
        let trusted = MemFlagsData::trusted();
        let caller_fp = b.ins().load(types::I64, trusted, fp, 0);
        let caller_pc = b.ins().load(types::I64, trusted, fp, 8);
        b.ins()
            .store(trusted, caller_fp, vmctx, InstanceHeader::OFFSET_EXIT_FP);
        b.ins()
            .store(trusted, caller_pc, vmctx, InstanceHeader::OFFSET_EXIT_PC);
    }
    let len = ty.params.len().max(ty.results.len()).max(1);
    let slot = b.create_sized_stack_slot(ir::StackSlotData::new(
        ir::StackSlotKind::ExplicitSlot,
        len as u32 * ARRAY_CALL_VALUE_SIZE,
        4,
    ));
    for (i, arg) in params[1..].iter().enumerate() {
        b.ins().stack_store(types::I64, *arg, slot, value_offset(i));
    }
    let code = b
        .ins()
        .load(types::I64, flags, imports, entry + FuncImport::OFFSET_CODE);
    let callee_vmctx = b
        .ins()
        .load(types::I64, flags, imports, entry + FuncImport::OFFSET_VMCTX);
    let data = b
        .ins()
        .load(types::I64, flags, imports, entry + FuncImport::OFFSET_DATA);
    let values = b.ins().stack_addr(types::I64, slot, 0);
    let n = b.ins().iconst(types::I64, len as i64);
    let sig = b.import_signature(array_signature(call_conv));
    b.ins()
        .call_indirect(sig, code, &[callee_vmctx, data, values, n]);
    let mut results = Vec::with_capacity(ty.results.len());
    for (i, t) in ty.results.iter().enumerate() {
        results.push(
            b.ins()
                .stack_load(types::I64, ir_type(*t), slot, value_offset(i)),
        );
    }
    b.ins().return_(&results);
    b.finalize(isa.frontend_config());
    func
}
