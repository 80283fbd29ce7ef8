//! From a parsed module to machine code: the target ISA, parallel translation
//! and compilation of every function (rayon), the layout of `.text`, and the
//! resolution of calls within the module. What cannot be resolved at compile
//! time (runtime builtins, libcalls) becomes a relocation for the loader.

use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, ExternalName, LibCall};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use lucet_module::{
    Arch, Builtin, CodeRange, Handler, HandlerSite, StackMapSite, TrapCode, PAGE_SIZE,
};
use rayon::prelude::*;
use std::collections::HashMap;

use crate::budget::Budget;
use crate::parse::{BodyToTranslate, ModuleInfo};
use crate::trampolines::{array_trampoline, import_stub};
use crate::translate::{
    traps, Complexity, FuncTranslator, ModuleEnv, Settings, NS_BUILTIN, NS_FUNCTION,
};
use crate::{divconst, optimize, Error, OptLevel, TargetCpu};

/// Builds the ISA for `arch`, with the CPU features of `cpu`.
pub fn target_isa(
    opt_level: OptLevel,
    arch: Arch,
    cpu: &TargetCpu,
) -> Result<OwnedTargetIsa, Error> {
    isa_with(opt_level, Regalloc::Backtracking, arch, cpu)
}

/// Cranelift's register allocators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regalloc {
    /// Range splitting and backtracking: better code, and the default.
    Backtracking,
    /// One pass over the code: linear in the values live across blocks,
    /// for functions the backtracking allocator would take seconds on.
    SinglePass,
}

/// Functions with more block parameters than this get the single-pass
/// allocator: the backtracking one grows faster than linearly in them
/// (40,000 take it 3.5 s in every shape tried: locals across 200 nested
/// loops, 2,000 locals across 20, 50 across 800); the most of any real
/// function measured is 24,221 (0.2 s).
pub const SINGLE_PASS_BLOCK_PARAMS: usize = 32_768;

/// Functions whose `Complexity::volume` is above this get the single-pass
/// allocator too: 10,000 operands left on the stack across 1,000 `if`s
/// (volume 10 million) take the backtracking allocator 1 s.
pub const SINGLE_PASS_VOLUME: u64 = 4_000_000;

/// The allocator for a function of `block_params` block parameters and
/// `complexity`.
fn regalloc_for(block_params: usize, complexity: Complexity) -> Regalloc {
    if block_params > SINGLE_PASS_BLOCK_PARAMS || complexity.volume > SINGLE_PASS_VOLUME {
        Regalloc::SinglePass
    } else {
        Regalloc::Backtracking
    }
}

fn isa_with(
    opt_level: OptLevel,
    regalloc: Regalloc,
    arch: Arch,
    cpu: &TargetCpu,
) -> Result<OwnedTargetIsa, Error> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| Error::Options(format!("cranelift setting {name}={value}: {e}")))
    };
    set(
        &mut flags,
        "opt_level",
        match opt_level {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        },
    )?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    set(&mut flags, "is_pic", "false")?;
    // Libcalls, like builtins, are near calls to stubs inside `.text`.
    set(&mut flags, "use_colocated_libcalls", "true")?;
    set(&mut flags, "enable_probestack", "false")?;
    set(&mut flags, "preserve_frame_pointers", "true")?;
    set(&mut flags, "unwind_info", "false")?;
    // Functions with more results than return registers return the rest
    // through a hidden pointer to a caller-provided area.
    set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
    set(
        &mut flags,
        "regalloc_algorithm",
        match regalloc {
            Regalloc::Backtracking => "backtracking",
            Regalloc::SinglePass => "single_pass",
        },
    )?;

    // This machine's features only when compiling for its own
    // architecture; for another, `native` is that architecture's baseline.
    let mut builder = if Arch::host() == Some(arch) {
        cranelift_native::builder_with_options(*cpu == TargetCpu::Native)
            .map_err(|e| Error::Unsupported(e.to_string()))?
    } else {
        cranelift_codegen::isa::lookup_by_name(arch.triple())
            .map_err(|e| Error::Unsupported(format!("target {}: {e}", arch.triple())))?
    };
    match cpu {
        TargetCpu::Native => {}
        TargetCpu::Named(name) if name == "baseline" => {}
        TargetCpu::Named(name) => builder.enable(name).map_err(|_| {
            let choices = match arch {
                Arch::X86_64 => {
                    "native, baseline or a microarchitecture such as nehalem, haswell or skylake-avx512"
                }
                Arch::Aarch64 => "native or baseline",
            };
            Error::Options(format!(
                "unknown CPU \"{}\" for {arch}: use {choices}",
                lucet_module::GuestName(name)
            ))
        })?,
    }
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| Error::Unsupported(format!("target ISA: {e}")))
}

/// The CPU features the ISA's code may use, as Lucet names them.
pub fn cpu_features(isa: &dyn TargetIsa) -> Vec<String> {
    isa.isa_flags()
        .iter()
        .filter(|v| v.as_bool() == Some(true))
        .filter_map(|v| v.name.strip_prefix("has_").map(str::to_string))
        .collect()
}

/// An instruction that may trap, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    /// Byte offset from the start of the function.
    pub offset: u32,
    /// The trap it raises.
    pub code: TrapCode,
}

/// What a relocation in compiled code points at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Function(u32),
    Builtin(Builtin),
    LibCall(&'static str),
}

#[derive(Debug, Clone)]
struct FuncReloc {
    offset: u32,
    kind: Reloc,
    target: Target,
    addend: i64,
}

/// One function's machine code.
pub struct CompiledFunction {
    code: Vec<u8>,
    relocs: Vec<FuncReloc>,
    traps: Vec<TrapSite>,
    handlers: Vec<HandlerSite>,
    /// The calls with live GC references (offsets in the function).
    stack_maps: Vec<StackMapSite>,
}

/// The calls of a compiled function that have exception handlers.
fn handler_sites(
    buffer: &cranelift_codegen::MachBufferFinalized<cranelift_codegen::Final>,
) -> Result<Vec<HandlerSite>, String> {
    use cranelift_codegen::FinalizedMachExceptionHandler as H;
    let mut sites = Vec::new();
    // The stack slot where the function keeps its vmctx for handlers.
    let vmctx_fp_offset = buffer.frame_layout().and_then(|layout| {
        let slot = layout
            .stackslots
            .values()
            .find(|s| s.key == Some(crate::translate::vmctx_slot_key()))?;
        Some(slot.offset as i64 - i64::from(layout.frame_to_fp_offset))
    });
    for site in buffer.call_sites() {
        if site.exception_handlers.is_empty() {
            continue;
        }
        let frame_offset = site
            .frame_offset
            .ok_or("a call with exception handlers has no frame offset")?;
        let vmctx_fp_offset = vmctx_fp_offset
            .and_then(|o| i32::try_from(o).ok())
            .ok_or("a call with exception handlers in a function without a vmctx slot")?;
        let handlers = site
            .exception_handlers
            .iter()
            .map(|h| match *h {
                H::Tag(tag, target) => Ok(Handler::Tag {
                    tag: tag.as_u32(),
                    target,
                }),
                H::Default(target) => Ok(Handler::All { target }),
                H::Context(_) => Err("an unexpected exception context".to_string()),
            })
            .collect::<Result<_, _>>()?;
        sites.push(HandlerSite {
            return_offset: site.ret_addr,
            frame_offset,
            vmctx_fp_offset,
            handlers,
        });
    }
    sites.sort_by_key(|s| s.return_offset);
    Ok(sites)
}

/// A call stub at the end of `.text`: a PC-relative jump through a slot of
/// the call table that the loader fills (`jmp [rip + disp32]`; on aarch64
/// `adrp`, `ldr`, `br`), so that nothing in `.text` depends on where the
/// runtime lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStub {
    /// Offset of the stub in `.text`.
    pub offset: u32,
    /// Its length in bytes.
    pub len: u32,
    /// The runtime symbol its table slot holds.
    pub symbol: String,
}

/// Bytes of one call stub of `arch`.
fn call_stub_size(arch: Arch) -> usize {
    match arch {
        // `jmp qword ptr [rip + disp32]` (6 bytes) and two `int3`.
        Arch::X86_64 => 8,
        // `adrp x16, slot; ldr x16, [x16, :lo12:slot]; br x16; udf #0`.
        Arch::Aarch64 => 16,
    }
}

/// The byte that fills gaps in `.text`: it traps wherever execution lands
/// in a run of it (`int3`; on aarch64 a zero word is `udf #0`).
fn padding_byte(arch: Arch) -> u8 {
    match arch {
        Arch::X86_64 => 0xcc,
        Arch::Aarch64 => 0,
    }
}

/// Writes the call stub at `at` in `bytes`, which jumps through the call
/// table slot at offset `slot` (both offsets from the start of `.text`,
/// `slot` after `at` and 8-aligned).
fn write_call_stub(arch: Arch, bytes: &mut [u8], at: usize, slot: usize) {
    let stub = &mut bytes[at..at + call_stub_size(arch)];
    match arch {
        Arch::X86_64 => {
            let disp = (slot - (at + 6)) as i32;
            stub[..2].copy_from_slice(&[0xff, 0x25]);
            stub[2..6].copy_from_slice(&disp.to_le_bytes());
            stub[6..].fill(0xcc);
        }
        Arch::Aarch64 => {
            const X16: u32 = 16;
            // The slot's 4 KiB page, relative to the stub's (`.text` is
            // mapped at a page boundary, so this holds wherever it lies).
            let pages = ((slot >> 12) - (at >> 12)) as u32;
            let adrp = 0x9000_0000 | ((pages & 3) << 29) | (((pages >> 2) & 0x7_ffff) << 5) | X16;
            let ldr = 0xf940_0000 | ((((slot & 0xfff) / 8) as u32) << 10) | (X16 << 5) | X16;
            let br = 0xd61f_0000 | (X16 << 5);
            for (word, insn) in stub.chunks_exact_mut(4).zip([adrp, ldr, br, 0]) {
                word.copy_from_slice(&insn.to_le_bytes());
            }
        }
    }
}

fn libcall_symbol(lc: LibCall) -> Option<&'static str> {
    Some(match lc {
        LibCall::CeilF32 => "ceilf",
        LibCall::CeilF64 => "ceil",
        LibCall::FloorF32 => "floorf",
        LibCall::FloorF64 => "floor",
        LibCall::TruncF32 => "truncf",
        LibCall::TruncF64 => "trunc",
        LibCall::NearestF32 => "nearbyintf",
        LibCall::NearestF64 => "nearbyint",
        LibCall::FmaF32 => "fmaf",
        LibCall::FmaF64 => "fma",
        LibCall::Memmove => "memmove",
        LibCall::Memset => "memset",
        _ => return None,
    })
}

/// The ISAs a compilation uses.
pub struct Backend {
    /// The instruction set.
    pub arch: Arch,
    /// Lowering, register allocation, signatures: `opt_level` none.
    pub isa: OwnedTargetIsa,
    /// The same with the single-pass register allocator, for functions
    /// too complex for the backtracking one (`regalloc_for`).
    pub single_pass: OwnedTargetIsa,
    /// The e-graph pass, unless optimization is off.
    pub optimizing: Option<OwnedTargetIsa>,
}

impl Backend {
    /// The ISAs for `opt_level`, `arch` and `cpu`.
    pub fn new(opt_level: OptLevel, arch: Arch, cpu: &TargetCpu) -> Result<Backend, Error> {
        Ok(Backend {
            arch,
            isa: target_isa(OptLevel::None, arch, cpu)?,
            single_pass: isa_with(OptLevel::None, Regalloc::SinglePass, arch, cpu)?,
            optimizing: match opt_level {
                OptLevel::None => None,
                level => Some(target_isa(level, arch, cpu)?),
            },
        })
    }
}

/// Compiles `func`, through the guarded e-graph pass when `optimize` is set
/// and the backend optimizes.
fn compile_clif(
    backend: &Backend,
    func: ir::Function,
    complexity: Complexity,
    optimize: bool,
    name: impl Fn() -> String,
) -> Result<CompiledFunction, Error> {
    let block_params: usize = func
        .layout
        .blocks()
        .map(|b| func.dfg.block_params(b).len())
        .sum();
    let regalloc = regalloc_for(block_params, complexity);
    let codegen_error = |e: cranelift_codegen::CodegenError| Error::Codegen {
        func: name(),
        message: format!("{e:?}"),
    };
    let mut ctx = match (&backend.optimizing, optimize) {
        (Some(optimizing), true) => {
            optimize::optimize(&**optimizing, func)
                .map_err(codegen_error)?
                .0
        }
        _ => Context::for_function(func),
    };
    let isa = match regalloc {
        Regalloc::Backtracking => &*backend.isa,
        Regalloc::SinglePass => &*backend.single_pass,
    };
    let (code, raw_relocs, traps, handlers, stack_maps) = {
        let compiled = ctx
            .compile(isa, &mut ControlPlane::default())
            .map_err(|e| Error::Codegen {
                func: name(),
                message: format!("{:?}", e.inner),
            })?;
        let relocs: Vec<_> = compiled
            .buffer
            .relocs()
            .iter()
            .map(|r| (r.offset, r.kind, r.target.clone(), r.addend))
            .collect();
        let mut traps: Vec<TrapSite> = compiled
            .buffer
            .traps()
            .iter()
            .map(|t| TrapSite {
                offset: t.offset,
                code: traps::lucet_trap(t.code),
            })
            .collect();
        traps.sort_by_key(|t| t.offset);
        let handlers = handler_sites(&compiled.buffer).map_err(|message| Error::Codegen {
            func: name(),
            message,
        })?;
        // Where each call's live GC references are, from the frame's
        // stack pointer (the frontend spilled them there).
        let stack_maps: Vec<StackMapSite> = compiled
            .buffer
            .user_stack_maps()
            .iter()
            .map(|(ret, frame_size, map)| {
                (*ret, *frame_size, map.entries().map(|(_, at)| at).collect())
            })
            .filter(|(_, _, offsets): &StackMapSite| !offsets.is_empty())
            .collect();
        let code = compiled.code_buffer().to_vec();
        (code, relocs, traps, handlers, stack_maps)
    };
    let mut code = code;
    let mut relocs = Vec::with_capacity(raw_relocs.len());
    for (offset, kind, target, addend) in raw_relocs {
        let target = match target {
            FinalizedRelocTarget::ExternalName(ExternalName::User(r)) => {
                let n = &ctx.func.params.user_named_funcs()[r];
                match n.namespace {
                    NS_FUNCTION => Target::Function(n.index),
                    NS_BUILTIN => {
                        Target::Builtin(Builtin::from_index(n.index).ok_or_else(|| {
                            Error::Codegen {
                                func: name(),
                                message: format!("unknown builtin {}", n.index),
                            }
                        })?)
                    }
                    ns => {
                        return Err(Error::Codegen {
                            func: name(),
                            message: format!("relocation to unknown namespace {ns}"),
                        })
                    }
                }
            }
            FinalizedRelocTarget::ExternalName(ExternalName::LibCall(lc)) => {
                Target::LibCall(libcall_symbol(lc).ok_or_else(|| Error::Codegen {
                    func: name(),
                    message: format!("unsupported libcall {lc:?}"),
                })?)
            }
            FinalizedRelocTarget::Func(target) => {
                // A reference within the function itself.
                patch_pc_rel(&mut code, offset, kind, target as i64 + addend).map_err(|m| {
                    Error::Codegen {
                        func: name(),
                        message: m,
                    }
                })?;
                continue;
            }
            other => {
                return Err(Error::Codegen {
                    func: name(),
                    message: format!("unsupported relocation target {other:?}"),
                })
            }
        };
        relocs.push(FuncReloc {
            offset,
            kind,
            target,
            addend,
        });
    }
    Ok(CompiledFunction {
        code,
        relocs,
        traps,
        handlers,
        stack_maps,
    })
}

/// Writes the 32-bit PC-relative displacement from `site` to `target` (both
/// offsets in `code`, `target` already including the addend).
fn patch_pc_rel(code: &mut [u8], site: u32, kind: Reloc, target: i64) -> Result<(), String> {
    match kind {
        Reloc::Arm64Call => {
            // `bl`: a signed 26-bit word displacement (±128 MiB).
            let disp = target - site as i64;
            if disp % 4 != 0 || !(-(1 << 27)..1 << 27).contains(&disp) {
                return Err("call displacement overflows".to_string());
            }
            let site = site as usize;
            let word = code
                .get_mut(site..site + 4)
                .ok_or_else(|| "relocation outside the code".to_string())?;
            let insn = u32::from_le_bytes(word.try_into().expect("4 bytes"));
            let insn = (insn & 0xfc00_0000) | ((disp >> 2) as u32 & 0x03ff_ffff);
            word.copy_from_slice(&insn.to_le_bytes());
            Ok(())
        }
        Reloc::X86PCRel4 | Reloc::X86CallPCRel4 => {
            let disp = target - site as i64;
            let disp =
                i32::try_from(disp).map_err(|_| "call displacement overflows".to_string())?;
            let site = site as usize;
            code.get_mut(site..site + 4)
                .ok_or_else(|| "relocation outside the code".to_string())?
                .copy_from_slice(&disp.to_le_bytes());
            Ok(())
        }
        other => Err(format!("unsupported relocation kind {other:?}")),
    }
}

/// A function placed in `.text`: its code range, and its trap sites,
/// exception handlers and stack maps (offsets in the function).
pub struct PlacedFunction {
    pub code: CodeRange,
    pub traps: Vec<TrapSite>,
    pub handlers: Vec<HandlerSite>,
    pub stack_maps: Vec<StackMapSite>,
}

/// Everything that goes into `.text`.
pub struct Text {
    /// The code, padded with trapping bytes to a multiple of [`PAGE_SIZE`].
    pub bytes: Vec<u8>,
    /// The call stubs, in call-table order.
    pub stubs: Vec<CallStub>,
    /// The functions of the index space, where they were placed.
    pub functions: Vec<PlacedFunction>,
    /// Code ranges of the array trampolines, by function index.
    pub trampolines: Vec<(u32, CodeRange)>,
}

/// Creates the CLIF function for a defined function, translated from wasm.
fn translate(
    module: ModuleEnv<'_>,
    translator: &mut FuncTranslator,
    body: &BodyToTranslate<'_>,
) -> Result<(ir::Function, Complexity), Error> {
    let (mut func, complexity) = translator.translate(module, body)?;
    divconst::rewrite(&mut func);
    Ok((func, complexity))
}

/// Translates every defined function to CLIF (for `--emit clif`).
pub fn translate_all(
    info: &ModuleInfo<'_>,
    bodies: Vec<BodyToTranslate<'_>>,
    isa: &dyn TargetIsa,
    settings: Settings,
) -> Result<Vec<ir::Function>, Error> {
    let module = ModuleEnv {
        info,
        isa,
        settings,
    };
    bodies
        .par_iter()
        .map_init(FuncTranslator::new, |tr, body| {
            translate(module, tr, body).map(|(f, _)| f)
        })
        .collect()
}

/// Compiles every function of the module and lays out `.text`.
pub fn compile_all(
    info: &ModuleInfo<'_>,
    bodies: Vec<BodyToTranslate<'_>>,
    backend: &Backend,
    settings: Settings,
    trampoline_funcs: &[u32],
    budget: &Budget,
) -> Result<Text, Error> {
    let isa = &*backend.isa;
    let module = ModuleEnv {
        info,
        isa,
        settings,
    };
    // Defined functions, translated and compiled in parallel.
    let defined: Vec<CompiledFunction> = bodies
        .par_iter()
        .map_init(FuncTranslator::new, |tr, body| {
            let name = || info.display_name(body.func_index);
            let started = budget.start_function()?;
            let (func, complexity) = translate(module, tr, body)?;
            let compiled = compile_clif(backend, func, complexity, true, name)?;
            budget.end_function(started, name)?;
            Ok(compiled)
        })
        .collect::<Result<_, Error>>()?;
    // Import stubs.
    let stubs: Vec<CompiledFunction> = (0..info.num_imported_funcs)
        .into_par_iter()
        .map(|i| {
            let ty = info.func_type(i);
            compile_clif(
                backend,
                import_stub(i, ty, info.holds_gc_refs, isa),
                Complexity::default(),
                false,
                || format!("import stub of {}", info.display_name(i)),
            )
        })
        .collect::<Result<_, _>>()?;
    // Array trampolines.
    let trampolines: Vec<CompiledFunction> = trampoline_funcs
        .par_iter()
        .map(|&i| {
            let ty = info.func_type(i);
            compile_clif(
                backend,
                array_trampoline(i, ty, isa),
                Complexity::default(),
                false,
                || format!("trampoline of {}", info.display_name(i)),
            )
        })
        .collect::<Result<_, _>>()?;

    // Layout: the function index space in order, then the trampolines.
    let mut bytes = Vec::new();
    let mut placed: Vec<(u32, &CompiledFunction)> = Vec::new();
    // Functions start on a cache line: small hot functions then sit in as
    // few lines (and decoded-uop windows) as they can, and their speed does
    // not depend on where their neighbours ended (fib2 varied by 12% with
    // 16-byte alignment).
    let pad = padding_byte(backend.arch);
    let place = |f: &CompiledFunction, bytes: &mut Vec<u8>| -> u32 {
        let aligned = bytes.len().next_multiple_of(64);
        bytes.resize(aligned, pad);
        bytes.extend_from_slice(&f.code);
        aligned as u32
    };
    let mut functions = Vec::with_capacity(stubs.len() + defined.len());
    for f in stubs.iter().chain(defined.iter()) {
        let offset = place(f, &mut bytes);
        placed.push((offset, f));
        functions.push(PlacedFunction {
            code: CodeRange {
                offset,
                len: f.code.len() as u32,
            },
            traps: f.traps.clone(),
            handlers: f.handlers.clone(),
            stack_maps: f.stack_maps.clone(),
        });
    }
    let mut tramp_ranges = Vec::with_capacity(trampolines.len());
    for (f, &index) in trampolines.iter().zip(trampoline_funcs) {
        let offset = place(f, &mut bytes);
        placed.push((offset, f));
        tramp_ranges.push((
            index,
            CodeRange {
                offset,
                len: f.code.len() as u32,
            },
        ));
    }

    // Calls into the runtime go to one stub per symbol, after the code;
    // each stub jumps through its slot of the call table, which the loader
    // places right after `.text` (at `bytes.len()` once padded).
    let mut stub_of: HashMap<String, u32> = HashMap::new();
    let mut stubs: Vec<CallStub> = Vec::new();
    for (_, f) in &placed {
        for r in &f.relocs {
            let symbol = match &r.target {
                Target::Builtin(b) => b.symbol().to_string(),
                Target::LibCall(name) => name.to_string(),
                Target::Function(_) => continue,
            };
            if !stub_of.contains_key(&symbol) {
                stub_of.insert(symbol.clone(), stubs.len() as u32);
                stubs.push(CallStub {
                    offset: 0,
                    len: call_stub_size(backend.arch) as u32,
                    symbol,
                });
            }
        }
    }
    let stubs_start = bytes.len().next_multiple_of(64);
    let stub_size = call_stub_size(backend.arch);
    let text_len = (stubs_start + stubs.len() * stub_size)
        .next_multiple_of(PAGE_SIZE as usize)
        .max(PAGE_SIZE as usize);
    if text_len + stubs.len() * 8 > i32::MAX as usize {
        return Err(Error::Codegen {
            func: "the module".into(),
            message: "the code is larger than 2 GiB".into(),
        });
    }
    bytes.resize(text_len, pad);
    for (i, stub) in stubs.iter_mut().enumerate() {
        let at = stubs_start + i * stub_size;
        stub.offset = at as u32;
        write_call_stub(backend.arch, &mut bytes, at, text_len + i * 8);
    }

    // Resolve every call: within the module, or to a stub.
    for (base, f) in placed {
        for r in &f.relocs {
            let site = base + r.offset;
            match &r.target {
                Target::Function(index) => {
                    let target = functions
                        .get(*index as usize)
                        .ok_or_else(|| Error::Codegen {
                            func: info.display_name(*index),
                            message: "call to a function that does not exist".into(),
                        })?
                        .code
                        .offset;
                    patch_pc_rel(&mut bytes, site, r.kind, target as i64 + r.addend).map_err(
                        |message| Error::Codegen {
                            func: info.display_name(*index),
                            message,
                        },
                    )?;
                }
                Target::Builtin(_) | Target::LibCall(_) => {
                    let symbol = match &r.target {
                        Target::Builtin(b) => b.symbol(),
                        Target::LibCall(name) => name,
                        Target::Function(_) => unreachable!(),
                    };
                    let stub = &stubs[stub_of[symbol] as usize];
                    patch_pc_rel(&mut bytes, site, r.kind, stub.offset as i64 + r.addend).map_err(
                        |message| Error::Codegen {
                            func: format!("{:?}", r.target),
                            message,
                        },
                    )?;
                }
            }
        }
    }
    Ok(Text {
        bytes,
        stubs,
        functions,
        trampolines: tramp_ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn aarch64_call_stubs_jump_through_their_slot() {
        let mut text = vec![0u8; 3 * 4096];
        // A stub in the first page, its slot 8 bytes into the third.
        write_call_stub(Arch::Aarch64, &mut text, 64, 2 * 4096 + 8);
        assert_eq!(
            words(&text[64..80]),
            // adrp x16, #2 pages; ldr x16, [x16, #8]; br x16; udf #0
            [0xd000_0010, 0xf940_0610, 0xd61f_0200, 0]
        );
        // Same page: adrp by 0; the slot's offset in its page, scaled by 8.
        write_call_stub(Arch::Aarch64, &mut text, 2 * 4096, 2 * 4096 + 4088);
        assert_eq!(
            words(&text[2 * 4096..2 * 4096 + 8]),
            [0x9000_0010, 0xf947_fe10]
        );
    }

    #[test]
    fn x86_64_call_stubs_jump_through_their_slot() {
        let mut text = vec![0u8; 4096];
        write_call_stub(Arch::X86_64, &mut text, 100, 4096);
        let disp: i32 = 4096 - 106;
        assert_eq!(&text[100..102], &[0xff, 0x25]);
        assert_eq!(&text[102..106], &disp.to_le_bytes());
        assert_eq!(&text[106..108], &[0xcc, 0xcc]);
    }

    #[test]
    fn aarch64_calls_are_patched_in_range_only() {
        // bl #0 at offset 8, to offset 0x1000.
        let mut code = vec![0u8; 16];
        code[8..12].copy_from_slice(&0x9400_0000u32.to_le_bytes());
        patch_pc_rel(&mut code, 8, Reloc::Arm64Call, 0x1000).unwrap();
        assert_eq!(words(&code[8..12]), [0x9400_0000 | ((0x1000 - 8) / 4)]);
        // Backwards: bl -8 bytes.
        patch_pc_rel(&mut code, 8, Reloc::Arm64Call, 0).unwrap();
        assert_eq!(words(&code[8..12]), [0x97ff_fffe]);
        assert!(patch_pc_rel(&mut code, 8, Reloc::Arm64Call, (1 << 27) + 8).is_err());
        assert!(patch_pc_rel(&mut code, 8, Reloc::Arm64Call, 2).is_err());
    }
}
