//! GC objects: `struct.*` and `array.*`, and the conversions between the
//! `any` and `extern` hierarchies.
//!
//! Objects live in the instance's GC heap (`lucet_module::ObjectHeader`
//! says how they look). Allocation is inline: the header's `gc_next` moves
//! up by the object's size while it stays at or below `gc_limit`; only an
//! object that does not fit calls the `GcAlloc` builtin. Fields are at the
//! offsets of `lucet_module::StructLayout`; an array's elements follow its
//! length. References to objects come only from allocation and from values
//! validation has typed, so accesses need no bounds check beyond an array's
//! index against its length; a null reference traps before any access.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData};
use lucet_module::{Builtin, InstanceHeader, ObjectHeader, StorageType};
use wasmparser::Operator;

use super::env::{ir_type, trusted, zero_value};
use super::state::{block_args, TResult, Translation};
use super::traps;

/// The flags of an access to a field of `storage`: fields are aligned to
/// their size up to 8 bytes, so a `v128` may be unaligned.
fn field_flags(storage: StorageType) -> MemFlagsData {
    if storage.size() <= 8 {
        trusted()
    } else {
        MemFlagsData::new().with_notrap()
    }
}

/// How a packed field is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extend {
    Signed,
    Unsigned,
}

impl Translation<'_, '_> {
    /// Allocates `size` bytes (an `i64`, a multiple of 8) for an object of
    /// the module's type `type_index` and writes its header; returns the
    /// object's address.
    fn allocate(&mut self, type_index: u32, size: ir::Value) -> ir::Value {
        let vmctx = self.env.vmctx;
        let next = self
            .ins()
            .load(types::I64, trusted(), vmctx, InstanceHeader::OFFSET_GC_NEXT);
        let limit = self.ins().load(
            types::I64,
            trusted(),
            vmctx,
            InstanceHeader::OFFSET_GC_LIMIT,
        );
        // No wraparound: heap addresses are below 2^48 and sizes below
        // 2^37 (4 Gi elements of 16 bytes).
        let end = self.ins().iadd(next, size);
        let fits = self.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, limit);
        let bump = self.b.create_block();
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I64);
        self.b.set_cold_block(slow);
        self.b.ins().brif(fits, bump, &[], slow, &[]);
        self.b.seal_block(bump);
        self.b.seal_block(slow);

        self.b.switch_to_block(bump);
        self.ins()
            .store(trusted(), end, vmctx, InstanceHeader::OFFSET_GC_NEXT);
        self.b.ins().jump(done, &block_args(&[next]));

        self.b.switch_to_block(slow);
        let ty = self.ins().iconst(types::I32, i64::from(type_index));
        let object = self
            .env
            .call_builtin(&mut self.b, Builtin::GcAlloc, &[ty, size])
            .expect("GcAlloc returns the object");
        self.trap_unless(object, traps::GC_HEAP_EXHAUSTED);
        self.b.ins().jump(done, &block_args(&[object]));

        self.b.seal_block(done);
        self.b.switch_to_block(done);
        let object = self.b.block_params(done)[0];
        let record = self.type_record(type_index);
        self.ins()
            .store(trusted(), record, object, ObjectHeader::OFFSET_TYPE);
        object
    }

    /// Stores `v` (of the unpacked type) in a field of `storage` at
    /// `address + offset`.
    fn store_field(&mut self, storage: StorageType, v: ir::Value, address: ir::Value, offset: i32) {
        let flags = field_flags(storage);
        match storage {
            StorageType::I8 => self.ins().istore8(flags, v, address, offset),
            StorageType::I16 => self.ins().istore16(flags, v, address, offset),
            StorageType::Val(_) => self.ins().store(flags, v, address, offset),
        };
    }

    /// Loads a field of `storage` at `address + offset`, unpacked.
    fn load_field(
        &mut self,
        storage: StorageType,
        extend: Extend,
        address: ir::Value,
        offset: i32,
    ) -> ir::Value {
        let flags = field_flags(storage);
        match (storage, extend) {
            (StorageType::I8, Extend::Signed) => {
                self.ins().sload8(types::I32, flags, address, offset)
            }
            (StorageType::I8, Extend::Unsigned) => {
                self.ins().uload8(types::I32, flags, address, offset)
            }
            (StorageType::I16, Extend::Signed) => {
                self.ins().sload16(types::I32, flags, address, offset)
            }
            (StorageType::I16, Extend::Unsigned) => {
                self.ins().uload16(types::I32, flags, address, offset)
            }
            (StorageType::Val(t), _) => self.ins().load(ir_type(t), flags, address, offset),
        }
    }

    /// The zero (or null) value of a field of `storage`, unpacked.
    fn zero_field(&mut self, storage: StorageType) -> ir::Value {
        let ty = ir_type(storage.unpacked());
        zero_value(&mut self.b, ty)
    }

    /// Traps with a null reference unless `r` is non-null.
    fn non_null(&mut self, r: ir::Value) {
        self.trap_unless(r, traps::NULL_REFERENCE);
    }

    /// The length of the (non-null) array `array`, an `i32`.
    fn array_len(&mut self, array: ir::Value) -> ir::Value {
        self.ins().load(
            types::I32,
            trusted(),
            array,
            ObjectHeader::OFFSET_ARRAY_LENGTH,
        )
    }

    /// `count` elements of `elem` in bytes, as an `i64` (`count` is an
    /// `i32` taken unsigned).
    fn element_bytes(&mut self, elem: StorageType, count: ir::Value) -> ir::Value {
        let count = self.ins().uextend(types::I64, count);
        let shift = elem.size().trailing_zeros();
        self.ins().ishl_imm_s(count, i64::from(shift))
    }

    /// The address of element `index` (an `i32`) of `array`, minus
    /// `ObjectHeader::OFFSET_ARRAY_ELEMENTS` (the access adds it).
    fn element_base(&mut self, elem: StorageType, array: ir::Value, index: ir::Value) -> ir::Value {
        let offset = self.element_bytes(elem, index);
        self.ins().iadd(array, offset)
    }

    /// The address of element `index` itself.
    fn element_address(
        &mut self,
        elem: StorageType,
        array: ir::Value,
        index: ir::Value,
    ) -> ir::Value {
        let base = self.element_base(elem, array, index);
        self.ins()
            .iadd_imm_s(base, i64::from(ObjectHeader::OFFSET_ARRAY_ELEMENTS))
    }

    /// Traps unless `index < len(array)`.
    fn check_index(&mut self, array: ir::Value, index: ir::Value) {
        let len = self.array_len(array);
        let inside = self.ins().icmp(IntCC::UnsignedLessThan, index, len);
        self.trap_unless(inside, traps::ARRAY_OUT_OF_BOUNDS);
    }

    /// Traps unless `start + count <= len(array)` (64-bit sum).
    fn check_range(&mut self, array: ir::Value, start: ir::Value, count: ir::Value) {
        let len = self.array_len(array);
        let len = self.ins().uextend(types::I64, len);
        let start = self.ins().uextend(types::I64, start);
        let count = self.ins().uextend(types::I64, count);
        let end = self.ins().iadd(start, count);
        let past = self.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        self.trap_if(past, traps::ARRAY_OUT_OF_BOUNDS);
    }

    /// A new array of type `type_index` with `len` (an `i32`) elements,
    /// whose length is written and whose elements are not.
    fn new_array(&mut self, type_index: u32, len: ir::Value) -> ir::Value {
        let elem = self.env.module.info.array_element(type_index).storage;
        let bytes = self.element_bytes(elem, len);
        let align = ObjectHeader::ALIGN as i64;
        let unrounded = self.ins().iadd_imm_s(
            bytes,
            i64::from(ObjectHeader::OFFSET_ARRAY_ELEMENTS) + align - 1,
        );
        let size = self.ins().band_imm_s(unrounded, -align);
        let array = self.allocate(type_index, size);
        self.ins()
            .store(trusted(), len, array, ObjectHeader::OFFSET_ARRAY_LENGTH);
        array
    }

    /// Stores `v` in `count` (an `i32`) elements of `array` from `start`.
    fn fill(
        &mut self,
        elem: StorageType,
        array: ir::Value,
        start: ir::Value,
        count: ir::Value,
        v: ir::Value,
    ) {
        let first = self.element_address(elem, array, start);
        let bytes = self.element_bytes(elem, count);
        let end = self.ins().iadd(first, bytes);
        let head = self.b.create_block();
        self.b.append_block_param(head, types::I64);
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(head, &block_args(&[first]));
        self.b.switch_to_block(head);
        let at = self.b.block_params(head)[0];
        let finished = self.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, at, end);
        self.b.ins().brif(finished, exit, &[], body, &[]);
        self.b.seal_block(body);
        self.b.switch_to_block(body);
        self.store_field(elem, v, at, 0);
        let next = self.ins().iadd_imm_s(at, i64::from(elem.size()));
        self.b.ins().jump(head, &block_args(&[next]));
        self.b.seal_block(head);
        self.b.seal_block(exit);
        self.b.switch_to_block(exit);
    }

    /// Calls one of the array builtins that return an array, or 0 (the GC
    /// heap is exhausted) or 1 (`outside` the segment), and traps on those.
    fn call_array_builtin(
        &mut self,
        builtin: Builtin,
        args: &[ir::Value],
        outside: ir::TrapCode,
    ) -> ir::Value {
        let r = self
            .env
            .call_builtin(&mut self.b, builtin, args)
            .expect("array builtins return the array");
        let failed = self.ins().icmp_imm_u(IntCC::UnsignedLessThan, r, 2);
        self.env.cold_exit(&mut self.b, failed, true, |env, b| {
            let exhausted = b.create_block();
            let out_of_bounds = b.create_block();
            b.ins().brif(r, out_of_bounds, &[], exhausted, &[]);
            b.seal_block(exhausted);
            b.seal_block(out_of_bounds);
            b.switch_to_block(exhausted);
            env.trap(b, traps::GC_HEAP_EXHAUSTED);
            b.switch_to_block(out_of_bounds);
            env.trap(b, outside);
        });
        r
    }

    pub(super) fn object_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use Operator::*;
        match *op {
            // References of both hierarchies share one encoding.
            AnyConvertExtern | ExternConvertAny => {}
            StructNew { struct_type_index } | StructNewDefault { struct_type_index } => {
                let info = self.env.module.info;
                let fields = info.struct_fields(struct_type_index);
                let layout = info.struct_layout(struct_type_index);
                let values = if matches!(op, StructNew { .. }) {
                    self.pop_n(fields.len())
                } else {
                    let zeros: Vec<_> = fields.iter().map(|f| self.zero_field(f.storage)).collect();
                    zeros
                };
                let size = self.ins().iconst(types::I64, i64::from(layout.size));
                let object = self.allocate(struct_type_index, size);
                for ((f, offset), v) in fields.iter().zip(&layout.offsets).zip(values) {
                    self.store_field(f.storage, v, object, *offset as i32);
                }
                self.push(object);
            }
            StructGet {
                struct_type_index,
                field_index,
            }
            | StructGetS {
                struct_type_index,
                field_index,
            }
            | StructGetU {
                struct_type_index,
                field_index,
            } => {
                let info = self.env.module.info;
                let storage = info.struct_fields(struct_type_index)[field_index as usize].storage;
                let offset = info.struct_layout(struct_type_index).offsets[field_index as usize];
                let object = self.pop();
                self.non_null(object);
                let extend = if matches!(op, StructGetS { .. }) {
                    Extend::Signed
                } else {
                    Extend::Unsigned
                };
                let v = self.load_field(storage, extend, object, offset as i32);
                self.push(v);
            }
            StructSet {
                struct_type_index,
                field_index,
            } => {
                let info = self.env.module.info;
                let storage = info.struct_fields(struct_type_index)[field_index as usize].storage;
                let offset = info.struct_layout(struct_type_index).offsets[field_index as usize];
                let (object, v) = self.pop2();
                self.non_null(object);
                self.store_field(storage, v, object, offset as i32);
            }
            ArrayNew { array_type_index } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let (v, len) = self.pop2();
                let array = self.new_array(array_type_index, len);
                let zero = self.ins().iconst(types::I32, 0);
                self.fill(elem, array, zero, len, v);
                self.push(array);
            }
            ArrayNewDefault { array_type_index } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let len = self.pop();
                let array = self.new_array(array_type_index, len);
                let first = self
                    .ins()
                    .iadd_imm_s(array, i64::from(ObjectHeader::OFFSET_ARRAY_ELEMENTS));
                let bytes = self.element_bytes(elem, len);
                let zero = self.ins().iconst(types::I32, 0);
                self.libc_call(ir::LibCall::Memset, &[first, zero, bytes]);
                self.push(array);
            }
            ArrayNewFixed {
                array_type_index,
                array_size,
            } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let values = self.pop_n(array_size as usize);
                let len = self.ins().iconst(types::I32, i64::from(array_size));
                let array = self.new_array(array_type_index, len);
                let first = ObjectHeader::OFFSET_ARRAY_ELEMENTS;
                for (i, v) in values.into_iter().enumerate() {
                    let offset = first + i as u32 * elem.size();
                    self.store_field(elem, v, array, offset as i32);
                }
                self.push(array);
            }
            ArrayNewData {
                array_type_index,
                array_data_index,
            }
            | ArrayNewElem {
                array_type_index,
                array_elem_index: array_data_index,
            } => {
                let (offset, len) = self.pop2();
                let (builtin, outside) = if matches!(op, ArrayNewData { .. }) {
                    (Builtin::ArrayNewData, traps::HEAP_OUT_OF_BOUNDS)
                } else {
                    (Builtin::ArrayNewElem, traps::TABLE_OUT_OF_BOUNDS)
                };
                let ty = self.ins().iconst(types::I32, i64::from(array_type_index));
                let segment = self.ins().iconst(types::I32, i64::from(array_data_index));
                let offset = self.ins().uextend(types::I64, offset);
                let len = self.ins().uextend(types::I64, len);
                let array = self.call_array_builtin(builtin, &[ty, segment, offset, len], outside);
                self.push(array);
            }
            ArrayGet { array_type_index }
            | ArrayGetS { array_type_index }
            | ArrayGetU { array_type_index } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let (array, index) = self.pop2();
                self.non_null(array);
                self.check_index(array, index);
                let base = self.element_base(elem, array, index);
                let extend = if matches!(op, ArrayGetS { .. }) {
                    Extend::Signed
                } else {
                    Extend::Unsigned
                };
                let offset = ObjectHeader::OFFSET_ARRAY_ELEMENTS as i32;
                let v = self.load_field(elem, extend, base, offset);
                self.push(v);
            }
            ArraySet { array_type_index } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let (array, index, v) = self.pop3();
                self.non_null(array);
                self.check_index(array, index);
                let base = self.element_base(elem, array, index);
                let offset = ObjectHeader::OFFSET_ARRAY_ELEMENTS as i32;
                self.store_field(elem, v, base, offset);
            }
            ArrayLen => {
                let array = self.pop();
                self.non_null(array);
                let len = self.array_len(array);
                self.push(len);
            }
            ArrayFill { array_type_index } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let count = self.pop();
                let (array, start, v) = self.pop3();
                self.non_null(array);
                self.check_range(array, start, count);
                self.fill(elem, array, start, count, v);
            }
            ArrayCopy {
                array_type_index_dst,
                ..
            } => {
                let elem = self
                    .env
                    .module
                    .info
                    .array_element(array_type_index_dst)
                    .storage;
                let count = self.pop();
                let (src, src_start) = self.pop2();
                let (dst, dst_start) = self.pop2();
                self.non_null(dst);
                self.non_null(src);
                self.check_range(dst, dst_start, count);
                self.check_range(src, src_start, count);
                let to = self.element_address(elem, dst, dst_start);
                let from = self.element_address(elem, src, src_start);
                let bytes = self.element_bytes(elem, count);
                self.libc_call(ir::LibCall::Memmove, &[to, from, bytes]);
            }
            ArrayInitData {
                array_type_index,
                array_data_index,
            }
            | ArrayInitElem {
                array_type_index,
                array_elem_index: array_data_index,
            } => {
                let elem = self.env.module.info.array_element(array_type_index).storage;
                let (start, offset, count) = self.pop3();
                let array = self.pop();
                self.non_null(array);
                self.check_range(array, start, count);
                let to = self.element_address(elem, array, start);
                let segment = self.ins().iconst(types::I32, i64::from(array_data_index));
                let offset = self.ins().uextend(types::I64, offset);
                let (builtin, amount, outside) = if matches!(op, ArrayInitData { .. }) {
                    let bytes = self.element_bytes(elem, count);
                    (Builtin::ArrayInitData, bytes, traps::HEAP_OUT_OF_BOUNDS)
                } else {
                    let count = self.ins().uextend(types::I64, count);
                    (Builtin::ArrayInitElem, count, traps::TABLE_OUT_OF_BOUNDS)
                };
                self.env.call_checked_builtin(
                    &mut self.b,
                    builtin,
                    &[segment, to, offset, amount],
                    outside,
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucet_module::ValType;

    #[test]
    fn only_wide_fields_are_unaligned() {
        assert!(field_flags(StorageType::Val(ValType::I64)).aligned());
        assert!(field_flags(StorageType::I8).aligned());
        assert!(!field_flags(StorageType::Val(ValType::V128)).aligned());
    }
}
