//! Linear memory: loads and stores with their bounds checks, `memory.size`,
//! `memory.grow` and the bulk memory operators.
//!
//! Every memory is compiled for the same layout (`HeapSpec`): a reservation
//! of `reserved_size` bytes followed by `guard_size` inaccessible bytes;
//! pages past the memory's current size are inaccessible too, so an access
//! that lands anywhere in reservation or guard faults and becomes a
//! `HeapOutOfBounds` trap. An access needs an explicit check only where
//! index plus offset can reach past the guard: never for 32-bit indices
//! with the default 4 GiB + 4 GiB layout; with a smaller reservation, or
//! for 64-bit indices, the code compares the index with the reservation (a
//! constant) and turns an out-of-bounds address into null, which faults
//! (without a branch the CPU could speculate past).
//!
//! `memory.fill` and `memory.copy` check their ranges inline and call the C
//! library's `memset` and `memmove`; `memory.init` and `memory.grow` call
//! runtime builtins.
//!
//! Memory 0, when the instance defines it, sits at `vmctx`; every other
//! memory's base is read from its `MemoryDef` (through the header's array
//! of them), once per block: a memory never moves.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, types, InstBuilder, MemFlagsData};
use lucet_module::{Builtin, InstanceHeader, MemoryDef};
use wasmparser::{MemArg, MemArgTarget, Operator};

use super::env::{fixed, trusted, Cached};
use super::state::{TResult, TranslateError, Translation};
use super::traps;

/// The flags of a guest memory access.
pub(super) fn heap_flags() -> MemFlagsData {
    MemFlagsData::new()
        .with_endianness(ir::Endianness::Little)
        .with_trap_code(Some(traps::HEAP_OUT_OF_BOUNDS))
}

/// The memory a `MemArg` refers to.
pub(super) fn memory_index(memarg: &MemArg) -> TResult<u32> {
    match memarg.target {
        MemArgTarget::Memory(m) => Ok(m),
        MemArgTarget::Array(_) => Err(TranslateError::Unsupported(
            "memory instructions on arrays are not supported".into(),
        )),
    }
}

impl Translation<'_, '_> {
    /// Whether memory `mem` has 64-bit addresses.
    pub(super) fn memory64(&self, mem: u32) -> bool {
        self.env.module.info.memories[mem as usize].memory64
    }

    /// Whether memory `mem` sits at vmctx (the instance defines it as
    /// memory 0).
    fn memory_at_vmctx(&self, mem: u32) -> bool {
        mem == 0 && self.env.module.info.memories[0].import.is_none()
    }

    /// The `MemoryDef` of memory `mem`: a pointer, and the offset of the
    /// record from it.
    fn memory_def(&mut self, mem: u32) -> (ir::Value, i32) {
        if self.memory_at_vmctx(mem) {
            return (self.env.vmctx, InstanceHeader::OFFSET_MEMORY_BASE);
        }
        let memories = self
            .env
            .header_pointer(&mut self.b, InstanceHeader::OFFSET_MEMORIES);
        let def = self
            .ins()
            .load(types::I64, fixed(), memories, (mem * 8) as i32);
        (def, 0)
    }

    /// The base address of memory `mem` (fixed while the instance lives).
    fn memory_base(&mut self, mem: u32) -> ir::Value {
        if self.memory_at_vmctx(mem) {
            return self.env.vmctx;
        }
        if let Some(base) = self
            .env
            .cached_in_block(&mut self.b, Cached::MemoryBase(mem))
        {
            return base;
        }
        let (def, offset) = self.memory_def(mem);
        let base = self
            .ins()
            .load(types::I64, fixed(), def, offset + MemoryDef::OFFSET_BASE);
        self.env
            .cached(&mut self.b, Cached::MemoryBase(mem), |_, _| base)
    }

    /// The current size of memory `mem` in bytes.
    fn memory_length(&mut self, mem: u32) -> ir::Value {
        let (def, offset) = self.memory_def(mem);
        self.ins().load(
            types::I64,
            trusted(),
            def,
            offset + MemoryDef::OFFSET_CURRENT_LENGTH,
        )
    }

    /// A memory operand (an address or a length) as 64 bits.
    pub(super) fn memory_operand_u64(&mut self, mem: u32, v: ir::Value) -> ir::Value {
        if self.memory64(mem) {
            v
        } else {
            self.ins().uextend(types::I64, v)
        }
    }

    /// Whether `start..start + len` (64-bit operands) goes past the end of
    /// memory `mem`: `len > length || start > length - len`, which cannot
    /// wrap.
    fn range_out_of_bounds(&mut self, mem: u32, start: ir::Value, len: ir::Value) -> ir::Value {
        let length = self.memory_length(mem);
        let too_long = self.ins().icmp(IntCC::UnsignedGreaterThan, len, length);
        let room = self.ins().isub(length, len);
        let past = self.ins().icmp(IntCC::UnsignedGreaterThan, start, room);
        self.ins().bor(too_long, past)
    }

    /// Calls the C library's `memmove(dst, src, len)` or
    /// `memset(dst, byte, len)` (resolved by the runtime).
    pub(super) fn libc_call(&mut self, libcall: ir::LibCall, args: &[ir::Value]) {
        let mut sig = ir::Signature::new(self.env.module.isa.default_call_conv());
        sig.params.push(ir::AbiParam::new(types::I64));
        sig.params
            .push(ir::AbiParam::new(if libcall == ir::LibCall::Memset {
                types::I32
            } else {
                types::I64
            }));
        sig.params.push(ir::AbiParam::new(types::I64));
        sig.returns.push(ir::AbiParam::new(types::I64));
        let signature = self.b.import_signature(sig);
        let f = self.b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::LibCall(libcall),
            signature,
            colocated: true,
            patchable: false,
        });
        self.ins().call(f, args);
    }

    /// Pops an address and computes where an access of `size` bytes with
    /// `memarg` goes: an address and an offset for the load or store
    /// instruction. `None`: the access always traps (the trap is emitted).
    pub(super) fn effective_address(
        &mut self,
        memarg: &MemArg,
        size: u32,
    ) -> TResult<Option<(ir::Value, i32)>> {
        let mem = memory_index(memarg)?;
        let index = self.pop();
        let heap = self.env.module.settings.heap;
        let index = self.memory_operand_u64(mem, index);
        let base = self.memory_base(mem);
        let max_index = if self.memory64(mem) {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        let Some(end) = memarg.offset.checked_add(u64::from(size)) else {
            self.trap(traps::HEAP_OUT_OF_BOUNDS);
            return Ok(None);
        };
        let covered = max_index
            .checked_add(end)
            .is_some_and(|last| last <= heap.reserved_size + heap.guard_size);
        if covered {
            // The guard catches every out-of-bounds access.
            let addr = self.ins().iadd(base, index);
            return Ok(Some(match i32::try_from(memarg.offset) {
                Ok(offset) => (addr, offset),
                Err(_) => (self.ins().iadd_imm_s(addr, memarg.offset as i64), 0),
            }));
        }
        if end > heap.reserved_size {
            self.trap(traps::HEAP_OUT_OF_BOUNDS);
            return Ok(None);
        }
        // In bounds iff index <= reserved - end; outside, the address
        // becomes null (and the access faults).
        let limit = heap.reserved_size - end;
        let oob = self
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThan, index, limit as i64);
        let addr = self.ins().iadd(base, index);
        let addr = if memarg.offset == 0 {
            addr
        } else {
            self.ins().iadd_imm_s(addr, memarg.offset as i64)
        };
        let null = self.ins().iconst(types::I64, 0);
        let addr = self.ins().select_spectre_guard(oob, null, addr);
        Ok(Some((addr, 0)))
    }

    /// A load of `ty` (`size` bytes) made by `load`.
    fn load(
        &mut self,
        memarg: &MemArg,
        size: u32,
        load: impl FnOnce(&mut Self, ir::Value, i32) -> ir::Value,
    ) -> TResult {
        if let Some((addr, offset)) = self.effective_address(memarg, size)? {
            let v = load(self, addr, offset);
            self.push(v);
        }
        Ok(())
    }

    /// A store of the popped value (`size` bytes) made by `store`.
    fn store(
        &mut self,
        memarg: &MemArg,
        size: u32,
        store: impl FnOnce(&mut Self, ir::Value, ir::Value, i32),
    ) -> TResult {
        let v = self.pop();
        if let Some((addr, offset)) = self.effective_address(memarg, size)? {
            store(self, v, addr, offset);
        }
        Ok(())
    }

    pub(super) fn memory_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        use types::{F32, F64, I32, I64};
        use Operator::*;
        let f = heap_flags();
        match op {
            I32Load { memarg } => self.load(memarg, 4, |t, a, o| t.ins().load(I32, f, a, o))?,
            I64Load { memarg } => self.load(memarg, 8, |t, a, o| t.ins().load(I64, f, a, o))?,
            F32Load { memarg } => self.load(memarg, 4, |t, a, o| t.ins().load(F32, f, a, o))?,
            F64Load { memarg } => self.load(memarg, 8, |t, a, o| t.ins().load(F64, f, a, o))?,
            I32Load8S { memarg } => self.load(memarg, 1, |t, a, o| t.ins().sload8(I32, f, a, o))?,
            I32Load8U { memarg } => self.load(memarg, 1, |t, a, o| t.ins().uload8(I32, f, a, o))?,
            I32Load16S { memarg } => {
                self.load(memarg, 2, |t, a, o| t.ins().sload16(I32, f, a, o))?
            }
            I32Load16U { memarg } => {
                self.load(memarg, 2, |t, a, o| t.ins().uload16(I32, f, a, o))?
            }
            I64Load8S { memarg } => self.load(memarg, 1, |t, a, o| t.ins().sload8(I64, f, a, o))?,
            I64Load8U { memarg } => self.load(memarg, 1, |t, a, o| t.ins().uload8(I64, f, a, o))?,
            I64Load16S { memarg } => {
                self.load(memarg, 2, |t, a, o| t.ins().sload16(I64, f, a, o))?
            }
            I64Load16U { memarg } => {
                self.load(memarg, 2, |t, a, o| t.ins().uload16(I64, f, a, o))?
            }
            I64Load32S { memarg } => self.load(memarg, 4, |t, a, o| t.ins().sload32(f, a, o))?,
            I64Load32U { memarg } => self.load(memarg, 4, |t, a, o| t.ins().uload32(f, a, o))?,
            I32Store { memarg } | F32Store { memarg } => self.store(memarg, 4, |t, v, a, o| {
                t.ins().store(f, v, a, o);
            })?,
            I64Store { memarg } | F64Store { memarg } => self.store(memarg, 8, |t, v, a, o| {
                t.ins().store(f, v, a, o);
            })?,
            I32Store8 { memarg } | I64Store8 { memarg } => {
                self.store(memarg, 1, |t, v, a, o| {
                    t.ins().istore8(f, v, a, o);
                })?
            }
            I32Store16 { memarg } | I64Store16 { memarg } => {
                self.store(memarg, 2, |t, v, a, o| {
                    t.ins().istore16(f, v, a, o);
                })?
            }
            I64Store32 { memarg } => self.store(memarg, 4, |t, v, a, o| {
                t.ins().istore32(f, v, a, o);
            })?,
            MemorySize { mem } => {
                let len = self.memory_length(*mem);
                let pages = self.ins().ushr_imm_u(len, 16);
                let v = if self.memory64(*mem) {
                    pages
                } else {
                    self.ins().ireduce(I32, pages)
                };
                self.push(v);
            }
            MemoryGrow { mem } => {
                let delta = self.pop();
                let delta = self.memory_operand_u64(*mem, delta);
                let m = self.ins().iconst(I32, i64::from(*mem));
                let old = self
                    .env
                    .call_builtin(&mut self.b, Builtin::MemoryGrow, &[m, delta])
                    .expect("memory.grow returns the old size");
                let v = if self.memory64(*mem) {
                    old
                } else {
                    self.ins().ireduce(I32, old)
                };
                self.push(v);
            }
            MemoryFill { mem } => {
                let (dst, val, len) = self.pop3();
                let dst = self.memory_operand_u64(*mem, dst);
                let len = self.memory_operand_u64(*mem, len);
                let oob = self.range_out_of_bounds(*mem, dst, len);
                self.trap_if(oob, traps::HEAP_OUT_OF_BOUNDS);
                let base = self.memory_base(*mem);
                let at = self.ins().iadd(base, dst);
                self.libc_call(ir::LibCall::Memset, &[at, val, len]);
            }
            MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3();
                let dst = self.memory_operand_u64(*dst_mem, dst);
                let src = self.memory_operand_u64(*src_mem, src);
                // The length has the smaller of the two address types.
                let len = if self.memory64(*dst_mem) && self.memory64(*src_mem) {
                    len
                } else {
                    self.ins().uextend(I64, len)
                };
                let dst_oob = self.range_out_of_bounds(*dst_mem, dst, len);
                let src_oob = self.range_out_of_bounds(*src_mem, src, len);
                let oob = self.ins().bor(dst_oob, src_oob);
                self.trap_if(oob, traps::HEAP_OUT_OF_BOUNDS);
                let dst_base = self.memory_base(*dst_mem);
                let src_base = self.memory_base(*src_mem);
                let to = self.ins().iadd(dst_base, dst);
                let from = self.ins().iadd(src_base, src);
                self.libc_call(ir::LibCall::Memmove, &[to, from, len]);
            }
            MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3();
                let dst = self.memory_operand_u64(*mem, dst);
                let src = self.ins().uextend(I64, src);
                let len = self.ins().uextend(I64, len);
                let m = self.ins().iconst(I32, i64::from(*mem));
                let seg = self.ins().iconst(I32, i64::from(*data_index));
                self.env.call_checked_builtin(
                    &mut self.b,
                    Builtin::MemoryInit,
                    &[m, seg, dst, src, len],
                    traps::HEAP_OUT_OF_BOUNDS,
                );
            }
            DataDrop { data_index } => {
                let seg = self.ins().iconst(I32, i64::from(*data_index));
                self.env
                    .call_builtin(&mut self.b, Builtin::DataDrop, &[seg]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
