//! References of the `any` hierarchy without objects, and type tests:
//! `ref.i31`, `i31.get_s/u`, `ref.eq`, `ref.test`, `ref.cast`,
//! `br_on_cast` and `br_on_cast_fail`, and the subtype check that
//! `call_indirect` makes.
//!
//! A reference is 64 bits: 0 is null. In the `any` and `extern`
//! hierarchies an `i31ref` has its low bit set and the integer in bits
//! 1..32, a host value has the low bits `10`, and anything else is a GC
//! object, whose first word is its type's record (`ObjectHeader`). A
//! `funcref` is the address of a function record (`FuncRef`), an `exnref`
//! that of an exception. Types compare by the
//! address of their process-wide [`lucet_module::TypeRecord`]: equal
//! addresses are equal types, and a declared subtype is found in constant
//! time in the record's supertype list at the target's depth, which the
//! compiler knows.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder};
use lucet_module::{
    FuncRef, HeapType, InstanceHeader, ObjectHeader, RefType, TypeKind, TypeRecord, REF_TAG_MASK,
};
use wasmparser::Operator;

use super::env::{fixed, trusted};
use super::state::{block_args, TResult, TranslateError, Translation};
use super::traps;

impl Translation<'_, '_> {
    /// Our reference type for one of the function's (validated) wasmparser
    /// reference types.
    fn ref_type_of(&self, rt: wasmparser::RefType) -> TResult<RefType> {
        Ok(RefType {
            nullable: rt.is_nullable(),
            heap: self.heap_type_of(rt.heap_type())?,
        })
    }

    /// Our heap type for one of the function's wasmparser heap types.
    fn heap_type_of(&self, ht: wasmparser::HeapType) -> TResult<HeapType> {
        crate::parse::heap_type(ht, &self.env.module.info.type_kinds).map_err(|e| match e {
            crate::Error::Unsupported(what) => TranslateError::Unsupported(what),
            other => TranslateError::Unsupported(other.to_string()),
        })
    }

    /// The record of the module's type `type_index`.
    pub(super) fn type_record(&mut self, type_index: u32) -> ir::Value {
        let records = self
            .env
            .header_pointer(&mut self.b, InstanceHeader::OFFSET_TYPES);
        self.ins()
            .load(types::I64, fixed(), records, (type_index * 8) as i32)
    }

    /// Whether the type whose record is `actual` is the module's type
    /// `type_index` or one of its subtypes (an `i8`, 0 or 1). Types that
    /// are final take one comparison; open types look in `actual`'s
    /// supertype list only when the records differ.
    pub(super) fn is_subtype_of(&mut self, actual: ir::Value, type_index: u32) -> ir::Value {
        let expected = self.type_record(type_index);
        let same = self.ins().icmp(IntCC::Equal, actual, expected);
        if self.env.module.info.sub_type(type_index).is_final {
            return same;
        }
        let depth = self.env.module.info.type_depth(type_index);
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        let look = self.b.create_block();
        self.b
            .ins()
            .brif(same, done, &block_args(&[same]), look, &[]);
        self.b.seal_block(look);
        self.b.switch_to_block(look);
        if depth > 0 {
            let actual_depth =
                self.ins()
                    .load(types::I32, trusted(), actual, TypeRecord::OFFSET_DEPTH);
            let deep_enough = self.ins().icmp_imm_u(
                IntCC::UnsignedGreaterThanOrEqual,
                actual_depth,
                depth as i64,
            );
            let read = self.b.create_block();
            let no = self.ins().iconst(types::I8, 0);
            self.b
                .ins()
                .brif(deep_enough, read, &[], done, &block_args(&[no]));
            self.b.seal_block(read);
            self.b.switch_to_block(read);
        }
        let supers = self
            .ins()
            .load(types::I64, trusted(), actual, TypeRecord::OFFSET_SUPERS);
        let at = self
            .ins()
            .load(types::I64, trusted(), supers, (depth * 8) as i32);
        let found = self.ins().icmp(IntCC::Equal, at, expected);
        self.b.ins().jump(done, &block_args(&[found]));
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    /// Whether reference `r` is a value of type `to` (an `i8`, 0 or 1);
    /// `r` is a value of a type of the same hierarchy.
    fn ref_test(&mut self, r: ir::Value, to: RefType) -> ir::Value {
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        let non_null = self.b.create_block();
        let if_null = self.ins().iconst(types::I8, i64::from(to.nullable));
        self.b
            .ins()
            .brif(r, non_null, &[], done, &block_args(&[if_null]));
        self.b.seal_block(non_null);
        self.b.switch_to_block(non_null);
        let result = self.non_null_test(r, to.heap, done);
        self.b.ins().jump(done, &block_args(&[result]));
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    /// Whether the non-null reference `r` belongs to `heap`; may branch to
    /// `done` (whose parameter is the answer) on the way.
    fn non_null_test(&mut self, r: ir::Value, heap: HeapType, done: ir::Block) -> ir::Value {
        match heap {
            HeapType::Any | HeapType::Func | HeapType::Extern | HeapType::Exn => {
                self.ins().iconst(types::I8, 1)
            }
            HeapType::None | HeapType::NoFunc | HeapType::NoExtern | HeapType::NoExn => {
                self.ins().iconst(types::I8, 0)
            }
            HeapType::I31 => {
                let bit = self.ins().band_imm_s(r, 1);
                self.ins().icmp_imm_s(IntCC::NotEqual, bit, 0)
            }
            HeapType::Concrete {
                index,
                kind: TypeKind::Func,
            } => {
                let ty = self
                    .ins()
                    .load(types::I64, trusted(), r, FuncRef::OFFSET_TYPE);
                self.is_subtype_of(ty, index)
            }
            HeapType::Eq | HeapType::Struct | HeapType::Array | HeapType::Concrete { .. } => {
                // Of the references with tag bits, an i31 is an `eq` and
                // a host value is none of these.
                let tag = self.ins().band_imm_s(r, REF_TAG_MASK as i64);
                let object = self.b.create_block();
                let tagged = if heap == HeapType::Eq {
                    let bit = self.ins().band_imm_s(tag, 1);
                    self.ins().ireduce(types::I8, bit)
                } else {
                    self.ins().iconst(types::I8, 0)
                };
                self.b
                    .ins()
                    .brif(tag, done, &block_args(&[tagged]), object, &[]);
                self.b.seal_block(object);
                self.b.switch_to_block(object);
                // Every object is a struct or an array: an `eq`.
                if heap == HeapType::Eq {
                    return self.ins().iconst(types::I8, 1);
                }
                let ty = self
                    .ins()
                    .load(types::I64, trusted(), r, ObjectHeader::OFFSET_TYPE);
                match heap {
                    HeapType::Concrete { index, .. } => self.is_subtype_of(ty, index),
                    _ => {
                        let kind =
                            self.ins()
                                .load(types::I32, trusted(), ty, TypeRecord::OFFSET_KIND);
                        let wanted = if heap == HeapType::Struct { 1 } else { 2 };
                        self.ins().icmp_imm_s(IntCC::Equal, kind, wanted)
                    }
                }
            }
        }
    }

    pub(super) fn cast_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use Operator::*;
        match op {
            RefI31 => {
                let x = self.pop();
                let shifted = self.ins().ishl_imm_s(x, 1);
                let tagged = self.ins().bor_imm_s(shifted, 1);
                let r = self.ins().uextend(types::I64, tagged);
                self.push(r);
            }
            I31GetS | I31GetU => {
                let r = self.pop();
                self.trap_unless(r, traps::NULL_REFERENCE);
                let low = self.ins().ireduce(types::I32, r);
                let v = if matches!(op, I31GetS) {
                    self.ins().sshr_imm_s(low, 1)
                } else {
                    self.ins().ushr_imm_s(low, 1)
                };
                self.push(v);
            }
            RefEq => {
                let (a, b) = self.pop2();
                let eq = self.ins().icmp(IntCC::Equal, a, b);
                let v = self.ins().uextend(types::I32, eq);
                self.push(v);
            }
            RefTestNonNull { hty } | RefTestNullable { hty } => {
                let to = RefType {
                    nullable: matches!(op, RefTestNullable { .. }),
                    heap: self.heap_type_of(*hty)?,
                };
                let r = self.pop();
                let ok = self.ref_test(r, to);
                let v = self.ins().uextend(types::I32, ok);
                self.push(v);
            }
            RefCastNonNull { hty } | RefCastNullable { hty } => {
                let to = RefType {
                    nullable: matches!(op, RefCastNullable { .. }),
                    heap: self.heap_type_of(*hty)?,
                };
                let r = self.pop();
                let ok = self.ref_test(r, to);
                self.trap_unless(ok, traps::CAST_FAILURE);
                self.push(r);
            }
            BrOnCast {
                relative_depth,
                to_ref_type,
                ..
            }
            | BrOnCastFail {
                relative_depth,
                to_ref_type,
                ..
            } => {
                let to = self.ref_type_of(*to_ref_type)?;
                let r = *self.stack.last().expect("validated: br_on_cast operand");
                let ok = self.ref_test(r, to);
                // The branch carries the reference on top of its other
                // values, as the fall-through does.
                let (target, n) = self.branch_target(*relative_depth);
                let args = block_args(self.peek_n(n));
                let next = self.continue_in_new_block();
                if matches!(op, BrOnCast { .. }) {
                    self.b.ins().brif(ok, target, &args, next, &[]);
                } else {
                    self.b.ins().brif(ok, next, &[], target, &args);
                }
                self.b.seal_block(next);
                self.b.switch_to_block(next);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
