//! Tables and references: `table.get`/`set`/`size` inline, the other table
//! operators through runtime builtins, `ref.null`, `ref.is_null`,
//! `ref.func`, `ref.as_non_null`.
//!
//! A table is reached through the header's array of `TableDef` pointers.
//! Elements are 8 bytes: a funcref is a pointer to a `FuncRef` record, an
//! externref an opaque host value; 0 is null.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder};
use lucet_module::{Builtin, FuncRef, InstanceHeader, TableDef};
use wasmparser::Operator;

use super::env::{fixed, trusted};
use super::state::{TResult, Translation};
use super::traps;

impl Translation<'_, '_> {
    /// The address of table `table`'s `TableDef`.
    pub(super) fn table_def(&mut self, table: u32) -> ir::Value {
        let tables = self
            .env
            .header_pointer(&mut self.b, InstanceHeader::OFFSET_TABLES);
        self.ins()
            .load(types::I64, fixed(), tables, (table * 8) as i32)
    }

    /// A table index operand as 64 bits.
    fn table_index_u64(&mut self, table: u32, index: ir::Value) -> ir::Value {
        if self.env.module.info.tables[table as usize].table64 {
            index
        } else {
            self.ins().uextend(types::I64, index)
        }
    }

    /// The size of `table` if it never changes: a table whose maximum is
    /// its minimum (an imported one too: its size lies between the two).
    fn fixed_table_size(&self, table: u32) -> Option<u64> {
        let t = &self.env.module.info.tables[table as usize];
        (t.max == Some(t.min)).then_some(t.min)
    }

    /// The address of element `index` of `table`, trapping with
    /// `TableOutOfBounds` outside the table.
    pub(super) fn table_entry_address(&mut self, table: u32, index: ir::Value) -> ir::Value {
        let def = self.table_def(table);
        let table64 = self.env.module.info.tables[table as usize].table64;
        let oob = match (self.fixed_table_size(table), table64) {
            (Some(size), _) => {
                self.ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, index, size as i64)
            }
            (None, false) => {
                let len = self
                    .ins()
                    .load(types::I32, trusted(), def, TableDef::OFFSET_LEN);
                self.ins()
                    .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len)
            }
            (None, true) => {
                let len = self
                    .ins()
                    .load(types::I32, trusted(), def, TableDef::OFFSET_LEN);
                let len = self.ins().uextend(types::I64, len);
                self.ins()
                    .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len)
            }
        };
        self.trap_if(oob, traps::TABLE_OUT_OF_BOUNDS);
        let index = self.table_index_u64(table, index);
        let base = self
            .ins()
            .load(types::I64, trusted(), def, TableDef::OFFSET_BASE);
        let offset = self.ins().ishl_imm_u(index, 3);
        let addr = self.ins().iadd(base, offset);
        // Past the check, a mispredicted index still reads element 0.
        self.ins().select_spectre_guard(oob, base, addr)
    }

    /// The `funcref` of function `index`: its record in the instance's
    /// funcref array.
    pub(super) fn funcref_of(&mut self, index: u32) -> ir::Value {
        let slot = self
            .env
            .module
            .info
            .escaping
            .binary_search(&index)
            .expect("validated: ref.func of a declared function");
        let funcrefs = self
            .env
            .header_pointer(&mut self.b, InstanceHeader::OFFSET_FUNCREFS);
        self.ins()
            .iadd_imm_s(funcrefs, slot as i64 * i64::from(FuncRef::SIZE))
    }

    /// A table operand (index, length, delta) as the builtins take it.
    fn table_operand(&mut self, table: u32, v: ir::Value) -> ir::Value {
        if self.env.module.info.tables[table as usize].table64 {
            v
        } else {
            self.ins().uextend(types::I64, v)
        }
    }

    pub(super) fn table_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use Operator::*;
        match op {
            TableGet { table } => {
                let index = self.pop();
                let addr = self.table_entry_address(*table, index);
                let v = self.ins().load(types::I64, trusted(), addr, 0);
                self.push(v);
            }
            TableSet { table } => {
                let (index, v) = self.pop2();
                let addr = self.table_entry_address(*table, index);
                self.ins().store(trusted(), v, addr, 0);
                // Mark the table written, so a reused slot restores it.
                let def = self.table_def(*table);
                let one = self.ins().iconst(types::I32, 1);
                self.ins()
                    .store(trusted(), one, def, TableDef::OFFSET_WRITTEN);
            }
            TableSize { table } if self.fixed_table_size(*table).is_some() => {
                let size = self.fixed_table_size(*table).unwrap_or_default();
                let ty = if self.env.module.info.tables[*table as usize].table64 {
                    types::I64
                } else {
                    types::I32
                };
                let v = self.ins().iconst(ty, size as i64);
                self.push(v);
            }
            TableSize { table } => {
                let def = self.table_def(*table);
                let len = self
                    .ins()
                    .load(types::I32, trusted(), def, TableDef::OFFSET_LEN);
                let v = if self.env.module.info.tables[*table as usize].table64 {
                    self.ins().uextend(types::I64, len)
                } else {
                    len
                };
                self.push(v);
            }
            TableGrow { table } => {
                let (init, delta) = self.pop2();
                let delta = self.table_operand(*table, delta);
                let t = self.ins().iconst(types::I32, i64::from(*table));
                let old = self
                    .env
                    .call_builtin(&mut self.b, Builtin::TableGrow, &[t, delta, init])
                    .expect("table.grow returns the old size");
                let v = if self.env.module.info.tables[*table as usize].table64 {
                    old
                } else {
                    self.ins().ireduce(types::I32, old)
                };
                self.push(v);
            }
            TableFill { table } => {
                let (dst, val, len) = self.pop3();
                let dst = self.table_operand(*table, dst);
                let len = self.table_operand(*table, len);
                let t = self.ins().iconst(types::I32, i64::from(*table));
                self.env.call_checked_builtin(
                    &mut self.b,
                    Builtin::TableFill,
                    &[t, dst, val, len],
                    traps::TABLE_OUT_OF_BOUNDS,
                );
            }
            TableCopy {
                dst_table,
                src_table,
            } => {
                let (dst, src, len) = self.pop3();
                let dst = self.table_operand(*dst_table, dst);
                let src = self.table_operand(*src_table, src);
                // The length has the smaller of the two index types.
                let len = if self.env.module.info.tables[*dst_table as usize].table64
                    && self.env.module.info.tables[*src_table as usize].table64
                {
                    len
                } else {
                    self.ins().uextend(types::I64, len)
                };
                let dt = self.ins().iconst(types::I32, i64::from(*dst_table));
                let st = self.ins().iconst(types::I32, i64::from(*src_table));
                self.env.call_checked_builtin(
                    &mut self.b,
                    Builtin::TableCopy,
                    &[dt, st, dst, src, len],
                    traps::TABLE_OUT_OF_BOUNDS,
                );
            }
            TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3();
                let dst = self.table_operand(*table, dst);
                let src = self.ins().uextend(types::I64, src);
                let len = self.ins().uextend(types::I64, len);
                let t = self.ins().iconst(types::I32, i64::from(*table));
                let seg = self.ins().iconst(types::I32, i64::from(*elem_index));
                self.env.call_checked_builtin(
                    &mut self.b,
                    Builtin::TableInit,
                    &[t, seg, dst, src, len],
                    traps::TABLE_OUT_OF_BOUNDS,
                );
            }
            ElemDrop { elem_index } => {
                let seg = self.ins().iconst(types::I32, i64::from(*elem_index));
                self.env
                    .call_builtin(&mut self.b, Builtin::ElemDrop, &[seg]);
            }
            RefNull { .. } => {
                let v = self.ins().iconst(types::I64, 0);
                self.push(v);
            }
            RefIsNull => {
                let r = self.pop();
                let c = self.ins().icmp_imm_s(IntCC::Equal, r, 0);
                let v = self.ins().uextend(types::I32, c);
                self.push(v);
            }
            RefFunc { function_index } => {
                let v = self.funcref_of(*function_index);
                self.push(v);
            }
            RefAsNonNull => {
                let r = *self
                    .stack
                    .last()
                    .expect("validated: ref.as_non_null operand");
                self.trap_unless(r, traps::NULL_REFERENCE);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
