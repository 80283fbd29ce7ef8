//! WebAssembly components (the component model, WASI 0.2): recognised,
//! validated whole with wasmparser's component validator, and described:
//! the core modules inside, the core instances made of them, the canonical
//! functions that join them to each other and to the host, and the
//! component's imports and exports; and made into one core module
//! ([`merge_component`]), which [`Compiler::compile`](crate::Compiler::compile)
//! compiles like any module, recording the component's interface in the
//! file. What is not supported yet is refused with [`Error::Component`].

use std::collections::BTreeMap;
use std::fmt;

use wasmparser::{ComponentExternalKind, ComponentTypeRef, Instance, Parser, Payload, Validator};

use crate::Error;

mod graph;
mod merge;
mod parts;

pub use graph::{core_graph, CanonOptions, Canonical, CoreDef, CoreGraph, Instantiation};
pub use lucet_component::StringEncoding;
pub use merge::{merge_component, MergedComponent};
use parts::{canonical_kind, features, walk_top_level, TopLevel};

/// Whether `bytes` are a component's binary (rather than a core module's).
pub fn is_component(bytes: &[u8]) -> bool {
    Parser::is_component(bytes)
}

/// What a component is made of, at its top level (nested components are
/// counted, not described).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ComponentSummary {
    /// Its core modules, in index order.
    pub core_modules: Vec<CoreModuleSummary>,
    /// Its core instances, in index order.
    pub core_instances: Vec<CoreInstanceSummary>,
    /// Canonical functions by kind (`lift`, `lower`, `resource.new`, ...),
    /// with how many of each.
    pub canonical_functions: BTreeMap<String, usize>,
    /// Its imports: name and kind (`instance`, `func`, `type`, ...).
    pub imports: Vec<(String, &'static str)>,
    /// Its exports: name and kind.
    pub exports: Vec<(String, &'static str)>,
    /// Components nested in it.
    pub nested_components: usize,
    /// Component instances it makes.
    pub component_instances: usize,
}

impl ComponentSummary {
    /// What it is, by the standard interfaces it exports: a
    /// `wasi:cli/command`, a `wasi:http/proxy`, or its exports' names.
    pub fn world(&self) -> String {
        let exports = |prefix: &str| self.exports.iter().any(|(n, _)| n.starts_with(prefix));
        if exports("wasi:http/incoming-handler") {
            "a wasi:http/proxy".into()
        } else if exports("wasi:cli/run") {
            "a wasi:cli/command".into()
        } else if self.exports.is_empty() {
            "exporting nothing".into()
        } else {
            let names: Vec<String> = self
                .exports
                .iter()
                .map(|(n, _)| lucet_module::escape_control(n))
                .collect();
            format!("exports: {}", names.join(", "))
        }
    }
}

/// A core module inside a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreModuleSummary {
    /// Its size in bytes.
    pub size: usize,
    /// Its imports, `module.name`.
    pub imports: Vec<String>,
    /// Its exports' names.
    pub exports: Vec<String>,
    /// Whether it defines a memory (the one the canonical ABI reads
    /// strings and lists from, usually).
    pub defines_memory: bool,
}

/// A core instance of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreInstanceSummary {
    /// Module `module` instantiated, each import module name bound to a
    /// core instance.
    Instantiate {
        module: u32,
        args: Vec<(String, u32)>,
    },
    /// Items gathered under export names (how a component hands lowered
    /// host functions to a module).
    FromExports(Vec<String>),
}

/// Validates `bytes` as a component and describes it.
pub fn describe_component(bytes: &[u8]) -> Result<ComponentSummary, Error> {
    let mut validator = Validator::new_with_features(features());
    validator.validate_all(bytes)?;
    let mut summary = ComponentSummary::default();
    walk_top_level(bytes, |item| {
        let payload = match item {
            TopLevel::Module(module) => {
                summary.core_modules.push(describe_core_module(module)?);
                return Ok(());
            }
            TopLevel::Component => {
                summary.nested_components += 1;
                return Ok(());
            }
            TopLevel::Section(payload) => payload,
        };
        match payload {
            Payload::InstanceSection(reader) => {
                for instance in reader {
                    summary.core_instances.push(match instance? {
                        Instance::Instantiate { module_index, args } => {
                            CoreInstanceSummary::Instantiate {
                                module: module_index,
                                args: args.iter().map(|a| (a.name.to_string(), a.index)).collect(),
                            }
                        }
                        Instance::FromExports(exports) => CoreInstanceSummary::FromExports(
                            exports.iter().map(|e| e.name.to_string()).collect(),
                        ),
                    });
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                summary.component_instances += reader.count() as usize;
            }
            Payload::ComponentCanonicalSection(reader) => {
                for function in reader {
                    *summary
                        .canonical_functions
                        .entry(canonical_kind(&function?))
                        .or_default() += 1;
                }
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import?;
                    summary
                        .imports
                        .push((import.name.name.to_string(), type_ref_kind(&import.ty)));
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    summary
                        .exports
                        .push((export.name.name.to_string(), external_kind(export.kind)));
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(summary)
}

/// A core module's imports and exports (the component's validation has
/// checked it).
fn describe_core_module(bytes: &[u8]) -> Result<CoreModuleSummary, Error> {
    let mut module = CoreModuleSummary {
        size: bytes.len(),
        imports: Vec::new(),
        exports: Vec::new(),
        defines_memory: false,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    module
                        .imports
                        .push(format!("{}.{}", import.module, import.name));
                }
            }
            Payload::MemorySection(reader) => module.defines_memory |= reader.count() > 0,
            Payload::ExportSection(reader) => {
                for export in reader {
                    module.exports.push(export?.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(module)
}

fn type_ref_kind(ty: &ComponentTypeRef) -> &'static str {
    match ty {
        ComponentTypeRef::Module(_) => "core module",
        ComponentTypeRef::Func(_) => "func",
        ComponentTypeRef::Value(_) => "value",
        ComponentTypeRef::Type(_) => "type",
        ComponentTypeRef::Instance(_) => "instance",
        ComponentTypeRef::Component(_) => "component",
    }
}

fn external_kind(kind: ComponentExternalKind) -> &'static str {
    match kind {
        ComponentExternalKind::Module => "core module",
        ComponentExternalKind::Func => "func",
        ComponentExternalKind::Value => "value",
        ComponentExternalKind::Type => "type",
        ComponentExternalKind::Instance => "instance",
        ComponentExternalKind::Component => "component",
    }
}

impl fmt::Display for ComponentSummary {
    /// The structure, one item a line, names escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let esc = |s: &str| lucet_module::escape_control(s);
        writeln!(f, "imports: {}", self.imports.len())?;
        for (name, kind) in &self.imports {
            writeln!(f, "  {}: {kind}", esc(name))?;
        }
        writeln!(f, "exports: {}", self.exports.len())?;
        for (name, kind) in &self.exports {
            writeln!(f, "  {}: {kind}", esc(name))?;
        }
        writeln!(f, "core modules: {}", self.core_modules.len())?;
        for (i, m) in self.core_modules.iter().enumerate() {
            writeln!(
                f,
                "  [{i}] {} bytes, {} imports, {} exports{}",
                m.size,
                m.imports.len(),
                m.exports.len(),
                if m.defines_memory {
                    ", defines a memory"
                } else {
                    ""
                }
            )?;
        }
        writeln!(f, "core instances: {}", self.core_instances.len())?;
        for (i, instance) in self.core_instances.iter().enumerate() {
            match instance {
                CoreInstanceSummary::Instantiate { module, args } => {
                    let args: Vec<String> = args
                        .iter()
                        .map(|(name, instance)| format!("{}=[{instance}]", esc(name)))
                        .collect();
                    if args.is_empty() {
                        writeln!(f, "  [{i}] module [{module}], no imports")?
                    } else {
                        writeln!(f, "  [{i}] module [{module}] with {}", args.join(" "))?
                    }
                }
                CoreInstanceSummary::FromExports(names) => {
                    writeln!(f, "  [{i}] {} items gathered", names.len())?
                }
            }
        }
        writeln!(f, "canonical functions:")?;
        for (kind, n) in &self.canonical_functions {
            writeln!(f, "  {}: {n}", esc(kind))?;
        }
        writeln!(f, "nested components: {}", self.nested_components)?;
        write!(f, "component instances: {}", self.component_instances)
    }
}
