//! Locals (Cranelift variables) and globals (16-byte slots in the instance's
//! globals area; an imported global's slot holds a pointer to its storage,
//! which may belong to another instance).

use cranelift_codegen::ir::{self, types, InstBuilder};
use lucet_module::InstanceHeader;
use wasmparser::Operator;

use super::env::ir_type;
use super::env::{fixed, trusted};
use super::state::{TResult, Translation};

impl Translation<'_, '_> {
    pub(super) fn variable_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        match op {
            Operator::LocalGet { local_index } => {
                let v = self.b.use_var(self.locals[*local_index as usize]);
                self.push(v);
            }
            Operator::LocalSet { local_index } => {
                let v = self.pop();
                self.b.def_var(self.locals[*local_index as usize], v);
            }
            Operator::LocalTee { local_index } => {
                let v = *self.stack.last().expect("validated: local.tee operand");
                self.b.def_var(self.locals[*local_index as usize], v);
            }
            Operator::GlobalGet { global_index } => {
                let (base, offset, ty) = self.global_address(*global_index);
                let v = self.ins().load(ty, trusted(), base, offset);
                self.push(v);
            }
            Operator::GlobalSet { global_index } => {
                let v = self.pop();
                let (base, offset, _) = self.global_address(*global_index);
                self.ins().store(trusted(), v, base, offset);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Where global `index` is stored (base and offset), and its Cranelift
    /// type.
    fn global_address(&mut self, index: u32) -> (ir::Value, i32, ir::Type) {
        let spec = &self.env.module.info.globals[index as usize];
        let ty = ir_type(spec.ty);
        let imported = spec.import.is_some();
        let globals = self
            .env
            .header_pointer(&mut self.b, InstanceHeader::OFFSET_GLOBALS);
        let slot = (index * InstanceHeader::GLOBAL_SLOT_SIZE) as i32;
        if imported {
            let storage = self.ins().load(types::I64, fixed(), globals, slot);
            (storage, 0, ty)
        } else {
            (globals, slot, ty)
        }
    }
}
