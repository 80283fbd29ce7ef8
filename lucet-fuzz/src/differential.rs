//! wasm-smith modules run on Lucet and on an oracle: the wasmi interpreter
//! for everything but GC and exceptions ([`check`]), and Wasmtime, behind
//! the `oracle-wasmtime` feature, for modules with GC types and
//! instructions ([`check_gc`]).
//!
//! Both run under fuel (their costs differ, so a case where either runs out
//! proves nothing and ends the comparison), and a stack overflow on either
//! side ends it too (their stack budgets differ). Everything else must
//! agree: whether instantiation succeeds, then for each exported function
//! in turn, called with arguments drawn from the input, the results or the
//! trap, and afterwards every exported global and the memory's contents.

use std::fmt;
use std::sync::{Arc, OnceLock};

mod wasmi_oracle;
#[cfg(feature = "oracle-wasmtime")]
mod wasmtime_oracle;

use wasmi_oracle::WasmiOracle;
#[cfg(feature = "oracle-wasmtime")]
use wasmtime_oracle::WasmtimeOracle;

use arbitrary::Unstructured;
use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::{
    Error as LucetError, ExportType, FuncType, InstanceHandle, Limits, Linker, MmapRegion, Module,
    RefType, TrapCode, Val, ValType,
};

/// Fuel for each call (and for instantiation) on either side.
const FUEL: u64 = 100_000;
/// Largest memory a generated module may declare.
const MAX_MEMORY_BYTES: u64 = 4 << 20;
/// Heap reservation of the explicitly bounds-checked configuration.
const DENSE_RESERVATION: u64 = 64 << 20;
/// The largest tables the differential fuzzer asks wasm-smith for.
const MAX_LARGE_TABLE_ELEMENTS: u64 = 1_000_000;

/// How a case ended, when the two agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The input ran out before a module was generated.
    NotEnoughData,
    /// The oracle does not take the module (a limit of the oracle).
    OracleRejects,
    /// Both failed to instantiate.
    BothFailedToInstantiate,
    /// The start function ran out of fuel or stack on either side.
    StartExhausted,
    /// Every exported function was called on both: `calls` agreed, and
    /// `exhausted` ran out of fuel or stack on either side (after each of
    /// those, both sides start afresh).
    Compared {
        /// Calls whose outcomes and effects agreed.
        calls: usize,
        /// Calls that proved nothing.
        exhausted: usize,
        /// The module declares struct or array types.
        objects: bool,
    },
}

/// Lucet and the oracle disagree.
#[derive(Debug, thiserror::Error)]
#[error("{what}\nmodule (wasm, hex): {wasm_hex}")]
pub struct Mismatch {
    what: String,
    wasm_hex: String,
}

/// A call's outcome, in terms both engines share.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Returned(Vec<Value>),
    Trapped(Trap),
    /// Fuel or stack ran out: no comparison possible.
    Exhausted,
}

/// Trap kinds of the specification.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trap {
    Unreachable,
    MemoryOutOfBounds,
    TableOutOfBounds,
    IndirectCallToNull,
    BadSignature,
    IntegerOverflow,
    IntegerDivisionByZero,
    BadConversionToInteger,
    NullReference,
    CastFailure,
    ArrayOutOfBounds,
    /// A Lucet error outside the specification's traps (never agrees).
    Lucet(String),
    /// An oracle error outside the specification's traps (never agrees).
    Oracle(String),
}

/// A value, bit-exact (references compare by nullness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Ref { null: bool },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// wasm-smith settings for what both Lucet and wasmi implement:
/// WebAssembly 3.0 without exception handling and GC (wasmi has neither):
/// SIMD and relaxed SIMD (Lucet's deterministic results are the ones wasmi
/// computes), tail calls, multi-memory, memory64, extended constant
/// expressions. No imports; up to four memories, each with a declared
/// maximum of at most 4 MiB; tables with declared maximums.
pub fn supported_config() -> wasm_smith::Config {
    wasm_smith::Config {
        max_imports: 0,
        min_types: 1,
        min_funcs: 1,
        max_funcs: 20,
        max_globals: 50,
        max_table_elements: 10_000,
        table_max_size_required: true,
        max_memories: 4,
        max_memory32_bytes: MAX_MEMORY_BYTES,
        max_memory64_bytes: MAX_MEMORY_BYTES as u128,
        memory_max_size_required: true,
        max_data_segments: 20,
        max_element_segments: 20,
        max_elements: 100,
        multi_value_enabled: true,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        relaxed_simd_enabled: true,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        tail_call_enabled: true,
        memory64_enabled: true,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        custom_descriptors_enabled: false,
        extended_const_enabled: true,
        ..wasm_smith::Config::default()
    }
}

/// `supported_config`, with sizes and options drawn from `u`; every item
/// is exported so that the comparison sees it, and NaNs are canonicalized
/// (their bits are not deterministic across engines).
fn smith_config(u: &mut Unstructured) -> arbitrary::Result<wasm_smith::Config> {
    Ok(wasm_smith::Config {
        max_instructions: u.int_in_range(10..=300)?,
        max_tables: u.int_in_range(0..=4)?,
        // Now and then tables of up to a million elements (the runtime's
        // default budget per instance, which the region below raises to
        // what four such tables need).
        max_table_elements: if u.ratio(1, 8)? {
            MAX_LARGE_TABLE_ELEMENTS
        } else {
            10_000
        },
        allow_start_export: u.arbitrary()?,
        max_memories: u.int_in_range(0..=4)?,
        simd_enabled: u.arbitrary()?,
        relaxed_simd_enabled: u.arbitrary()?,
        tail_call_enabled: u.arbitrary()?,
        memory64_enabled: u.arbitrary()?,
        extended_const_enabled: u.arbitrary()?,
        export_everything: true,
        canonicalize_nans: true,
        ..supported_config()
    })
}

fn compiler(dense: bool) -> &'static Compiler {
    static GUARDED: OnceLock<Compiler> = OnceLock::new();
    static DENSE: OnceLock<Compiler> = OnceLock::new();
    let options = |dense: bool| CompileOptions {
        count_instructions: true,
        reserved_size: if dense {
            DENSE_RESERVATION
        } else {
            lucet_compiler::DEFAULT_RESERVED_SIZE
        },
        guard_size: if dense {
            64 << 10
        } else {
            lucet_compiler::DEFAULT_GUARD_SIZE
        },
        ..CompileOptions::default()
    };
    let cell = if dense { &DENSE } else { &GUARDED };
    cell.get_or_init(|| Compiler::new(options(dense)).expect("valid options"))
}

/// Generates a module from `data` and runs it on both engines.
pub fn check(data: &[u8]) -> Result<Verdict, Mismatch> {
    let mut u = Unstructured::new(data);
    let Some((dense, wasm)) = generate(&mut u, |config| config) else {
        return Ok(Verdict::NotEnoughData);
    };
    Case { wasm: &wasm, dense }.run::<WasmiOracle>(&mut u)
}

/// What a case makes of its input's first bytes: the heap layout (dense,
/// or guarded) and a module generated with `adjust`ed settings; the rest
/// of `u` gives the calls' arguments.
fn generate(
    u: &mut Unstructured,
    adjust: impl FnOnce(wasm_smith::Config) -> wasm_smith::Config,
) -> Option<(bool, Vec<u8>)> {
    let dense = u.arbitrary::<bool>().ok()?;
    let config = adjust(smith_config(u).ok()?);
    Some((dense, wasm_smith::Module::new(config, u).ok()?.to_bytes()))
}

/// `config` with GC types and instructions (structs, arrays, i31, casts,
/// the any/eq/struct/array hierarchy), for Wasmtime, and without relaxed
/// SIMD (whose results Wasmtime does not fix).
#[cfg(feature = "oracle-wasmtime")]
fn with_gc(config: wasm_smith::Config) -> wasm_smith::Config {
    wasm_smith::Config {
        gc_enabled: true,
        relaxed_simd_enabled: false,
        ..config
    }
}

/// Generates a GC module from `data` and runs it on Lucet and Wasmtime.
#[cfg(feature = "oracle-wasmtime")]
pub fn check_gc(data: &[u8]) -> Result<Verdict, Mismatch> {
    let mut u = Unstructured::new(data);
    let Some((dense, wasm)) = generate(&mut u, with_gc) else {
        return Ok(Verdict::NotEnoughData);
    };
    Case { wasm: &wasm, dense }.run::<WasmtimeOracle>(&mut u)
}

/// The GC module [`check_gc`] makes of `data` (for looking at a finding).
#[cfg(feature = "oracle-wasmtime")]
pub fn gc_module_of(data: &[u8]) -> Option<Vec<u8>> {
    generate(&mut Unstructured::new(data), with_gc).map(|(_, wasm)| wasm)
}

/// The engine Lucet is compared with.
trait Oracle: Sized {
    /// Its name in findings.
    const NAME: &'static str;
    /// Compiles the module, or refuses it.
    fn new(wasm: &[u8]) -> Result<Self, String>;
    /// A fresh instance (the start function run), replacing any earlier.
    fn instantiate(&mut self) -> Result<(), Outcome>;
    /// Calls the exported function `name` of the instance.
    fn call(&mut self, name: &str, args: &[Val]) -> Outcome;
    /// The exported global `name`.
    fn global(&mut self, name: &str) -> Option<Value>;
    /// The exported memory `name`'s contents (empty if there is none).
    fn memory(&mut self, name: &str) -> &[u8];
}

struct Case<'a> {
    wasm: &'a [u8],
    dense: bool,
}

impl Case<'_> {
    fn mismatch(&self, what: impl Into<String>) -> Mismatch {
        let wasm_hex = self.wasm.iter().map(|b| format!("{b:02x}")).collect();
        Mismatch {
            what: format!(
                "{} ({} heap)",
                what.into(),
                if self.dense {
                    "bounds-checked"
                } else {
                    "guarded"
                }
            ),
            wasm_hex,
        }
    }

    fn run<O: Oracle>(&self, u: &mut Unstructured) -> Result<Verdict, Mismatch> {
        let mut oracle = match O::new(self.wasm) {
            Ok(o) => o,
            Err(_) => return Ok(Verdict::OracleRejects),
        };
        let elf = compiler(self.dense)
            .compile(self.wasm)
            .and_then(|c| c.to_elf())
            .map_err(|e| self.mismatch(format!("lucetc rejects a valid module: {e}")))?;
        let module = Module::from_bytes(&elf, "fuzz", &Linker::new())
            .map_err(|e| self.mismatch(format!("the runtime rejects the compiled module: {e}")))?;
        let limits = Limits {
            heap_memory_size: DENSE_RESERVATION,
            stack_size: 256 << 10,
            max_table_elements: 4 * MAX_LARGE_TABLE_ELEMENTS,
            ..Limits::default()
        };
        let region = MmapRegion::create(1, &limits)
            .map_err(|e| self.mismatch(format!("cannot create a region: {e}")))?;

        let mut lucet = match self.instantiate(&region, &module, &mut oracle)? {
            Ok(l) => l,
            Err(verdict) => return Ok(verdict),
        };
        let exports: Vec<(String, FuncType)> = module
            .exports()
            .filter_map(|(name, ty)| match ty {
                ExportType::Func(ty) => Some((name.to_string(), ty.clone())),
                _ => None,
            })
            .collect();
        let objects = module.defines_gc_objects();
        let (mut calls, mut exhausted) = (0, 0);
        for (name, ty) in &exports {
            if ty
                .params
                .iter()
                .any(|t| matches!(t, ValType::Ref(r) if !r.nullable))
            {
                // No argument can be made for it (the host has no objects
                // of the module's types): both sides would refuse the call.
                continue;
            }
            let args: Vec<Val> = ty.params.iter().map(|t| arbitrary_val(u, *t)).collect();
            lucet
                .set_fuel(FUEL)
                .map_err(|e| self.mismatch(format!("set_fuel: {e}")))?;
            let l = lucet_outcome(lucet.run(name, &args).and_then(|r| r.returned()));
            let o = oracle.call(name, &args);
            if l == Outcome::Exhausted || o == Outcome::Exhausted {
                // The two stopped at different points: start both afresh
                // for the next call.
                exhausted += 1;
                drop(lucet);
                lucet = match self.instantiate(&region, &module, &mut oracle)? {
                    Ok(l) => l,
                    Err(_) => {
                        return Ok(Verdict::Compared {
                            calls,
                            exhausted,
                            objects,
                        })
                    }
                };
                continue;
            }
            if l != o {
                return Err(self.mismatch(format!("{name}({args:?}): Lucet {l}, {} {o}", O::NAME)));
            }
            calls += 1;
            self.compare_state(&lucet, &mut oracle, &format!("after {name}({args:?})"))?;
        }
        Ok(Verdict::Compared {
            calls,
            exhausted,
            objects,
        })
    }

    /// Instantiates the module on both sides: Lucet's instance, or how the
    /// case ends if either fails.
    fn instantiate<O: Oracle>(
        &self,
        region: &Arc<MmapRegion>,
        module: &Arc<Module>,
        oracle: &mut O,
    ) -> Result<Result<InstanceHandle, Verdict>, Mismatch> {
        let lucet = region
            .new_instance_builder(module.clone())
            .with_fuel(FUEL)
            .build();
        let oracle_instance = oracle.instantiate();
        match (lucet, oracle_instance) {
            (Ok(l), Ok(())) => {
                self.compare_state(&l, oracle, "after instantiation")?;
                Ok(Ok(l))
            }
            (l, o) => {
                let l = l.err().map(|e| (e.to_string(), lucet_outcome(Err(e))));
                let o = o.err();
                let exhausted = Some(&Outcome::Exhausted);
                if l.as_ref().map(|(_, l)| l) == exhausted || o.as_ref() == exhausted {
                    return Ok(Err(Verdict::StartExhausted));
                }
                match (l, o) {
                    (Some((message, _)), None) => {
                        Err(self.mismatch(format!("instantiation fails on Lucet only: {message}")))
                    }
                    (None, Some(o)) => {
                        Err(self.mismatch(format!("instantiation fails on {} only: {o}", O::NAME)))
                    }
                    _ => Ok(Err(Verdict::BothFailedToInstantiate)),
                }
            }
        }
    }

    /// Exported globals and memories must be the same on both.
    fn compare_state<O: Oracle>(
        &self,
        lucet: &InstanceHandle,
        oracle: &mut O,
        when: &str,
    ) -> Result<(), Mismatch> {
        let exports: Vec<(&str, ExportType<'_>)> = lucet.module().exports().collect();
        for (name, ty) in &exports {
            if let ExportType::Global { .. } = ty {
                let l = lucet
                    .get_global(name)
                    .map(|v| value(&v))
                    .map_err(|err| self.mismatch(format!("global {}: {err}", name)))?;
                let o = oracle.global(name);
                if Some(l) != o {
                    return Err(self.mismatch(format!(
                        "{when}: global {} is {l:?} on Lucet, {o:?} on {}",
                        name,
                        O::NAME
                    )));
                }
            }
        }
        for (name, ty) in &exports {
            let ExportType::Memory = ty else {
                continue;
            };
            let l = lucet.exported_memory(name).unwrap_or_default();
            let o = oracle.memory(name);
            if l.len() != o.len() {
                return Err(self.mismatch(format!(
                    "{when}: memory {} is {} bytes on Lucet, {} on {}",
                    name,
                    l.len(),
                    o.len(),
                    O::NAME
                )));
            }
            if let Some(i) = l.iter().zip(o).position(|(a, b)| a != b) {
                return Err(self.mismatch(format!(
                    "{when}: memory {} differs at {i:#x}: {:#04x} on Lucet, {:#04x} on {}",
                    name,
                    l[i],
                    o[i],
                    O::NAME
                )));
            }
        }
        Ok(())
    }
}

fn arbitrary_val(u: &mut Unstructured, ty: ValType) -> Val {
    // An exhausted input gives zeros, which are fine arguments too.
    match ty {
        ValType::I32 => Val::I32(u.arbitrary().unwrap_or_default()),
        ValType::I64 => Val::I64(u.arbitrary().unwrap_or_default()),
        ValType::F32 => Val::F32(f32::from_bits(u.arbitrary().unwrap_or_default())),
        ValType::F64 => Val::F64(f64::from_bits(u.arbitrary().unwrap_or_default())),
        ValType::V128 => Val::V128(u.arbitrary().unwrap_or_default()),
        ValType::Ref(r) => Val::zero(ValType::Ref(RefType::nullable(r.heap))),
    }
}

fn value(v: &Val) -> Value {
    match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(x.to_bits()),
        Val::F64(x) => Value::F64(x.to_bits()),
        Val::V128(x) => Value::V128(*x),
        Val::FuncRef(r) | Val::ExnRef(r) => Value::Ref { null: *r == 0 },
        Val::ExternRef(e) => Value::Ref {
            null: *e == lucet_runtime::ExternRef::Null,
        },
        Val::AnyRef(a) => Value::Ref {
            null: *a == lucet_runtime::AnyRef::Null,
        },
    }
}

fn lucet_outcome(r: Result<Vec<Val>, LucetError>) -> Outcome {
    match r {
        Ok(vals) => Outcome::Returned(vals.iter().map(value).collect()),
        Err(LucetError::Trap { code, .. }) => match code {
            TrapCode::OutOfFuel | TrapCode::StackOverflow => Outcome::Exhausted,
            TrapCode::Unreachable => Outcome::Trapped(Trap::Unreachable),
            TrapCode::HeapOutOfBounds => Outcome::Trapped(Trap::MemoryOutOfBounds),
            TrapCode::TableOutOfBounds => Outcome::Trapped(Trap::TableOutOfBounds),
            TrapCode::IndirectCallToNull => Outcome::Trapped(Trap::IndirectCallToNull),
            TrapCode::BadSignature => Outcome::Trapped(Trap::BadSignature),
            TrapCode::IntegerOverflow => Outcome::Trapped(Trap::IntegerOverflow),
            TrapCode::IntegerDivisionByZero => Outcome::Trapped(Trap::IntegerDivisionByZero),
            TrapCode::BadConversionToInteger => Outcome::Trapped(Trap::BadConversionToInteger),
            TrapCode::NullReference => Outcome::Trapped(Trap::NullReference),
            TrapCode::CastFailure => Outcome::Trapped(Trap::CastFailure),
            TrapCode::ArrayOutOfBounds => Outcome::Trapped(Trap::ArrayOutOfBounds),
            // The two GC heaps differ in size.
            TrapCode::GcHeapExhausted => Outcome::Exhausted,
            other => Outcome::Trapped(Trap::Lucet(other.to_string())),
        },
        Err(e) => Outcome::Trapped(Trap::Lucet(e.to_string())),
    }
}
