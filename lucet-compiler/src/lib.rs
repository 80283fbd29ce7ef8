//! `lucet-compiler`: WebAssembly (binary or text) to a native ELF file that the
//! Lucet runtime loads without a system linker.
//!
//! The pipeline: `parse` validates the whole module and collects what the
//! runtime needs; `codegen` translates every function with our translator
//! (`translate/`) to Cranelift IR, compiles them in parallel and lays out
//! `.text`; `image` bakes data segments into a sparse memory image; `elf`
//! writes the file.
//!
//! ```no_run
//! use lucet_compiler::{Compiler, CompileOptions};
//! let compiler = Compiler::new(CompileOptions::default())?;
//! let module = compiler.compile(b"(module (func (export \"f\") (result i32) i32.const 42))")?;
//! std::fs::write("f.lucet", module.to_elf()?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod budget;
mod call_graph;
mod codegen;
mod component;
mod divconst;
mod elf;
mod error;
mod image;
mod optimize;
mod options;
mod parse;
mod trampolines;
mod translate;

use std::borrow::Cow;

use lucet_module::{
    ExportKind, FunctionHandlers, FunctionSpec, HeapSpec, MemorySpec, ModuleData, Trampoline,
};

pub use budget::CompileBudget;
pub use component::{
    core_graph, describe_component, is_component, merge_component, CanonOptions, Canonical,
    ComponentSummary, CoreDef, CoreGraph, CoreInstanceSummary, CoreModuleSummary, Instantiation,
    MergedComponent, StringEncoding,
};
pub use error::Error;
pub use lucet_module::Arch;
pub use options::{
    Bindings, CompileOptions, OptLevel, RelaxedSimd, Standard, TargetCpu, DEFAULT_GUARD_SIZE,
    DEFAULT_RESERVED_SIZE,
};
pub use translate::{MAX_FUNCTION_VALUES, MAX_FUNCTION_VOLUME};

/// A compiled module: code, relocations, metadata and memory image, ready to
/// be written as an ELF file.
pub struct CompiledModule {
    data: ModuleData,
    text: Vec<u8>,
    stubs: Vec<codegen::CallStub>,
    /// Trap sites of the whole `.text`, sorted by offset.
    traps: Vec<(u32, lucet_module::TrapCode)>,
    /// Calls with live GC references, sorted by return address.
    stack_maps: Vec<lucet_module::StackMapSite>,
    /// Function names from the name section, sorted by function index.
    names: Vec<(u32, String)>,
    heap_image: Vec<u8>,
}

impl CompiledModule {
    /// The module's metadata.
    pub fn metadata(&self) -> &ModuleData {
        &self.data
    }

    /// Size of the machine code in bytes.
    pub fn code_size(&self) -> usize {
        self.text.len()
    }

    /// The ELF file, sealed with its content hash.
    pub fn to_elf(&self) -> Result<Vec<u8>, Error> {
        self.write(None)
    }

    fn write(&self, sign: Option<elf::Signer<'_>>) -> Result<Vec<u8>, Error> {
        elf::write_elf(elf::Contents {
            data: &self.data,
            text: &self.text,
            stubs: &self.stubs,
            traps: &self.traps,
            stack_maps: &self.stack_maps,
            names: &self.names,
            heap_image: &self.heap_image,
            sign,
        })
    }

    /// The ELF file, sealed with its content hash and signed: `sign` returns
    /// the minisign signature text of the hash it is given.
    pub fn to_signed_elf(
        &self,
        sign: &dyn Fn(&lucet_module::ContentHash) -> Result<String, String>,
    ) -> Result<Vec<u8>, Error> {
        self.write(Some(sign))
    }
}

/// The binary form of `input`, which is either a wasm binary or text.
pub fn wasm_from_input(input: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    if input.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(input));
    }
    let text = std::str::from_utf8(input).map_err(|e| {
        text_error(
            input,
            e.valid_up_to(),
            "input is neither a wasm binary nor UTF-8 text".into(),
        )
    })?;
    let err = |e: wast::Error| text_error(input, e.span().offset(), e.message());
    let buf = wast::parser::ParseBuffer::new(text).map_err(err)?;
    let mut wat: wast::Wat = wast::parser::parse(&buf).map_err(err)?;
    Ok(Cow::Owned(wat.encode().map_err(err)?))
}

fn text_error(input: &[u8], offset: usize, message: String) -> Error {
    let before = &input[..offset.min(input.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    Error::Text {
        message,
        offset,
        line,
        column,
    }
}

/// Compiles modules with one set of options for this machine's CPU.
pub struct Compiler {
    options: CompileOptions,
    backend: codegen::Backend,
}

impl Compiler {
    /// A compiler with `options`.
    pub fn new(options: CompileOptions) -> Result<Self, Error> {
        options.check()?;
        let backend = codegen::Backend::new(options.opt_level, options.target, &options.cpu)?;
        Ok(Compiler { options, backend })
    }

    /// The layout and limits of every memory of the module.
    fn memory_specs(&self, info: &parse::ModuleInfo<'_>) -> Vec<MemorySpec> {
        let mut specs = Vec::with_capacity(info.memories.len());
        // A memory larger than the reservation is valid wasm: such a module
        // compiles, and instantiating it fails (with the sizes).
        for mem in &info.memories {
            specs.push(MemorySpec {
                heap: HeapSpec {
                    reserved_size: self.options.reserved_size,
                    guard_size: self.options.guard_size,
                    initial_pages: mem.initial_pages,
                    max_pages: mem.max_pages,
                },
                import: mem.import.clone(),
                bounds_checked: mem.memory64 || self.options.reserved_size < 1 << 32,
                memory64: mem.memory64,
            });
        }
        specs
    }

    fn check_bindings(&self, info: &parse::ModuleInfo<'_>) -> Result<(), Error> {
        let Some(bindings) = &self.options.bindings else {
            return Ok(());
        };
        for f in &info.functions {
            if let Some(imp) = &f.import {
                if !bindings.contains(&(imp.module.clone(), imp.name.clone())) {
                    return Err(Error::UnboundImport(imp.to_string()));
                }
            }
        }
        Ok(())
    }

    /// The heap layout code is generated for (every memory's).
    fn heap_layout(&self) -> HeapSpec {
        HeapSpec {
            reserved_size: self.options.reserved_size,
            guard_size: self.options.guard_size,
            initial_pages: 0,
            max_pages: Some(0),
        }
    }

    /// Compiles a wasm binary or text module.
    pub fn compile(&self, input: &[u8]) -> Result<CompiledModule, Error> {
        let from_text = !input.starts_with(b"\0asm");
        self.compile_inner(input).map_err(|e| match e {
            Error::Invalid { message, offset } if from_text => {
                Error::InvalidFromText { message, offset }
            }
            e => e,
        })
    }

    fn compile_inner(&self, input: &[u8]) -> Result<CompiledModule, Error> {
        let budget = budget::Budget::start(self.options.budget);
        let mut wasm = wasm_from_input(input)?;
        let mut component_abi = None;
        if component::is_component(&wasm) {
            let merged = component::merge_component(&wasm)?;
            component_abi = Some(merged.abi);
            wasm = Cow::Owned(merged.module);
        }
        let mut info = parse::parse(&wasm, self.options.standard)?;
        self.check_bindings(&info)?;
        let memories = self.memory_specs(&info);
        let bodies = std::mem::take(&mut info.bodies);

        let mut trampoline_funcs: Vec<u32> = info
            .exports
            .iter()
            .filter_map(|e| match e.kind {
                ExportKind::Func(i) => Some(i),
                _ => None,
            })
            .chain(info.start)
            .collect();
        trampoline_funcs.sort_unstable();
        trampoline_funcs.dedup();

        let text = codegen::compile_all(
            &info,
            bodies,
            &self.backend,
            translate::Settings {
                heap: self.heap_layout(),
                interruptible: self.options.interruptible,
                count_instructions: self.options.count_instructions,
                relaxed_simd: self.options.relaxed_simd,
            },
            &trampoline_funcs,
            &budget,
        )?;
        info.heap_reservation = self.options.reserved_size;
        let built = image::build(&info);

        let mut traps = Vec::new();
        let mut stack_maps = Vec::new();
        let mut handlers = Vec::new();
        let functions = info
            .functions
            .iter()
            .zip(text.functions)
            .enumerate()
            .map(|(i, (decl, placed))| {
                let code = placed.code;
                traps.extend(
                    placed
                        .traps
                        .iter()
                        .map(|t| (code.offset + t.offset, t.code)),
                );
                stack_maps.extend(
                    placed
                        .stack_maps
                        .into_iter()
                        .map(|(ret, size, offsets)| (code.offset + ret, size, offsets)),
                );
                if !placed.handlers.is_empty() {
                    handlers.push(FunctionHandlers {
                        func_index: i as u32,
                        sites: placed.handlers,
                    });
                }
                FunctionSpec {
                    type_index: decl.type_index,
                    code,
                }
            })
            .collect();
        let function_imports = info
            .functions
            .iter()
            .map_while(|f| f.import.clone())
            .collect();
        let mut names: Vec<(u32, String)> = info
            .func_names
            .iter()
            .map(|(i, n)| (*i, n.clone()))
            .collect();
        names.sort_unstable_by_key(|n| n.0);
        // Functions are laid out in order and each one's sites are sorted;
        // the sort only guards the table's invariant.
        traps.sort_by_key(|t| t.0);
        let data = ModuleData {
            name: info.module_name.clone(),
            types: info.types.clone(),
            rec_groups: info.rec_groups.clone(),
            functions,
            function_imports,
            handlers,
            trampolines: text
                .trampolines
                .iter()
                .map(|(func_index, code)| Trampoline {
                    func_index: *func_index,
                    code: *code,
                })
                .collect(),
            exports: info.exports.clone(),
            start: info.start,
            memories,
            image: built.image,
            data_segments: built.data_segments,
            globals: info.globals.clone(),
            tables: info.tables.clone(),
            elements: info.elements.clone(),
            tags: info.tags.clone(),
            funcref_slots: info.escaping.clone(),
            arch: self.backend.arch,
            cpu_features: codegen::cpu_features(&*self.backend.isa),
            interruptible: self.options.interruptible,
            counts_instructions: self.options.count_instructions,
            call_table: text.stubs.iter().map(|s| s.symbol.clone()).collect(),
            component: component_abi,
        };
        Ok(CompiledModule {
            data,
            text: text.bytes,
            stubs: text.stubs,
            traps,
            stack_maps,
            names,
            heap_image: built.section,
        })
    }

    /// The Cranelift IR of every defined function, as text.
    pub fn clif(&self, input: &[u8]) -> Result<String, Error> {
        let wasm = wasm_from_input(input)?;
        let mut info = parse::parse(&wasm, self.options.standard)?;
        let bodies = std::mem::take(&mut info.bodies);
        let settings = translate::Settings {
            heap: self.heap_layout(),
            interruptible: self.options.interruptible,
            count_instructions: self.options.count_instructions,
            relaxed_simd: self.options.relaxed_simd,
        };
        let funcs = codegen::translate_all(&info, bodies, &*self.backend.isa, settings)?;
        let mut out = String::new();
        for (i, f) in funcs.iter().enumerate() {
            let index = info.num_imported_funcs + i as u32;
            out.push_str(&format!(
                "; {}\n{}\n",
                info.display_name(index),
                f.display()
            ));
        }
        Ok(out)
    }
}
