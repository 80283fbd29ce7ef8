//! A component's core instance graph, resolved: for every module it
//! instantiates, what each of the module's imports is bound to (an export
//! of an earlier instance, or a canonical function), followed through the
//! component's aliases and the instances it gathers from exports. This is
//! what merging a component's core instances into one module starts from.

use std::collections::HashMap;

use lucet_component::StringEncoding;
use wasmparser::ComponentInstance;

use wasmparser::{
    CanonicalFunction, CanonicalOption, ComponentAlias, ComponentExternalKind, ComponentTypeRef,
    ExternalKind, Instance, Parser, Payload,
};

use super::parts::{canonical_kind, walk_top_level, TopLevel};
use crate::Error;

/// What a core item (function, table, memory, global, tag) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreDef {
    /// The export `name` of the module instantiated by instantiation
    /// `instance` (an index into [`CoreGraph::instantiations`]).
    Export { instance: usize, name: String },
    /// Canonical function `index` (into [`CoreGraph::canonicals`]).
    Canonical(usize),
}

/// A canonical function's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanonOptions {
    /// The memory strings and lists live in.
    pub memory: Option<CoreDef>,
    /// The guest's `realloc`.
    pub realloc: Option<CoreDef>,
    /// Called after a lifted function's results are read.
    pub post_return: Option<CoreDef>,
    pub string_encoding: StringEncoding,
    /// Asynchronous (WASI 0.3): `async`, `callback`.
    pub is_async: bool,
}

/// A canonical function, as far as the graph needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canonical {
    /// `canon lower` of component function `func`, which is export `name`
    /// of the imported instance `interface` (or, for an imported function,
    /// `interface` is its import name and `name` is empty), when it is an
    /// import.
    Lower {
        func: u32,
        import: Option<(String, String)>,
        options: CanonOptions,
    },
    /// `canon lift` of a core function, as a component function of type
    /// `ty` (a component type index).
    Lift {
        core: CoreDef,
        ty: u32,
        options: CanonOptions,
    },
    /// `resource.new`, `resource.drop` or `resource.rep` of resource type
    /// `ty`.
    Resource { op: &'static str, ty: u32 },
    /// Anything else (async, threads, ...): what it is.
    Other(String),
}

/// One module instantiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instantiation {
    /// The module, by index among the component's core modules.
    pub module: u32,
    /// Each of the module's imports (module name, field name) and what
    /// it is bound to, in the module's import order.
    pub imports: Vec<(String, String, CoreDef)>,
}

/// A component's core instances, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreGraph {
    /// The modules instantiated, in instantiation order.
    pub instantiations: Vec<Instantiation>,
    /// The canonical functions, in definition order.
    pub canonicals: Vec<Canonical>,
    /// The component's imported instances: their index among the
    /// component's instances, and their import name.
    pub imported_instances: Vec<(u32, String)>,
    /// The names the component exports lifted functions under, by the
    /// lift's index in [`CoreGraph::canonicals`]: `interface#function` for
    /// a function of an exported instance the component gathers itself,
    /// the export's name for a function exported alone. (A lift exported
    /// through a nested component is not traced.)
    pub lift_exports: HashMap<usize, String>,
}

/// A core instance of the component's index space.
enum CoreInstance {
    /// Instantiation `usize`.
    Instantiated(usize),
    /// Items gathered under names.
    Gathered(HashMap<String, CoreDef>),
}

/// The component's core index spaces, and the names of what its function
/// and instance index spaces hold, as they grow.
#[derive(Default)]
struct Spaces {
    /// Component functions: (instance import name, export name) of those
    /// that are imports.
    component_funcs: Vec<Option<(String, String)>>,
    /// Component instances: the import name of those that are imports.
    component_instances: Vec<Option<String>>,
    /// Component functions that are lifts: their canonical index.
    lifted: HashMap<u32, usize>,
    /// Component instances gathered from functions: (name, function).
    gathered: HashMap<u32, Vec<(String, u32)>>,
    modules: Vec<Vec<(String, String)>>,
    instances: Vec<CoreInstance>,
    funcs: Vec<CoreDef>,
    tables: Vec<CoreDef>,
    memories: Vec<CoreDef>,
    globals: Vec<CoreDef>,
    tags: Vec<CoreDef>,
}

fn malformed(message: &str) -> Error {
    Error::Invalid {
        message: format!("component: {message}"),
        offset: 0,
    }
}

impl Spaces {
    fn space(&mut self, kind: ExternalKind) -> &mut Vec<CoreDef> {
        match kind {
            ExternalKind::Func | ExternalKind::FuncExact => &mut self.funcs,
            ExternalKind::Table => &mut self.tables,
            ExternalKind::Memory => &mut self.memories,
            ExternalKind::Global => &mut self.globals,
            ExternalKind::Tag => &mut self.tags,
        }
    }

    /// What export `name` of core instance `index` is.
    fn export(&self, index: u32, name: &str) -> Result<CoreDef, Error> {
        match self.instances.get(index as usize) {
            Some(CoreInstance::Instantiated(i)) => Ok(CoreDef::Export {
                instance: *i,
                name: name.to_string(),
            }),
            Some(CoreInstance::Gathered(items)) => items
                .get(name)
                .cloned()
                .ok_or_else(|| malformed("an instance lacks an export it is asked for")),
            None => Err(malformed("a core instance index is out of range")),
        }
    }

    fn options(&self, options: &[CanonicalOption]) -> Result<CanonOptions, Error> {
        let mut out = CanonOptions::default();
        for option in options {
            match option {
                CanonicalOption::UTF8 => out.string_encoding = StringEncoding::Utf8,
                CanonicalOption::UTF16 => out.string_encoding = StringEncoding::Utf16,
                CanonicalOption::CompactUTF16 => out.string_encoding = StringEncoding::CompactUtf16,
                CanonicalOption::Memory(m) => {
                    out.memory = Some(self.item(ExternalKind::Memory, *m)?)
                }
                CanonicalOption::Realloc(f) => {
                    out.realloc = Some(self.item(ExternalKind::Func, *f)?)
                }
                CanonicalOption::PostReturn(f) => {
                    out.post_return = Some(self.item(ExternalKind::Func, *f)?)
                }
                CanonicalOption::Async | CanonicalOption::Callback(_) => out.is_async = true,
                CanonicalOption::CoreType(_) | CanonicalOption::Gc => {}
            }
        }
        Ok(out)
    }

    fn item(&self, kind: ExternalKind, index: u32) -> Result<CoreDef, Error> {
        let space = match kind {
            ExternalKind::Func | ExternalKind::FuncExact => &self.funcs,
            ExternalKind::Table => &self.tables,
            ExternalKind::Memory => &self.memories,
            ExternalKind::Global => &self.globals,
            ExternalKind::Tag => &self.tags,
        };
        space
            .get(index as usize)
            .cloned()
            .ok_or_else(|| malformed("a core item index is out of range"))
    }
}

/// A core module's imports, in order.
fn module_imports(bytes: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let mut imports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                let import = import?;
                imports.push((import.module.to_string(), import.name.to_string()));
            }
        }
    }
    Ok(imports)
}

/// Resolves the core instance graph of the top level of a component
/// (which validation has checked).
pub fn core_graph(bytes: &[u8]) -> Result<CoreGraph, Error> {
    let mut graph = CoreGraph::default();
    let mut spaces = Spaces::default();
    walk_top_level(bytes, |item| {
        let payload = match item {
            TopLevel::Module(module) => {
                spaces.modules.push(module_imports(module)?);
                return Ok(());
            }
            // Nested components hold no core instance of this one.
            TopLevel::Component => return Ok(()),
            TopLevel::Section(payload) => payload,
        };
        match payload {
            Payload::InstanceSection(reader) => {
                for instance in reader {
                    let instance = match instance? {
                        Instance::Instantiate { module_index, args } => {
                            let by_name: HashMap<&str, u32> =
                                args.iter().map(|a| (a.name, a.index)).collect();
                            let wanted = spaces
                                .modules
                                .get(module_index as usize)
                                .ok_or_else(|| malformed("a module index is out of range"))?;
                            let mut imports = Vec::with_capacity(wanted.len());
                            for (module, name) in wanted {
                                let from = by_name
                                    .get(module.as_str())
                                    .ok_or_else(|| malformed("an instantiation lacks an import"))?;
                                let def = spaces.export(*from, name)?;
                                imports.push((module.clone(), name.clone(), def));
                            }
                            graph.instantiations.push(Instantiation {
                                module: module_index,
                                imports,
                            });
                            CoreInstance::Instantiated(graph.instantiations.len() - 1)
                        }
                        Instance::FromExports(exports) => {
                            let mut items = HashMap::new();
                            for e in exports.iter() {
                                items.insert(e.name.to_string(), spaces.item(e.kind, e.index)?);
                            }
                            CoreInstance::Gathered(items)
                        }
                    };
                    spaces.instances.push(instance);
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    match alias? {
                        ComponentAlias::CoreInstanceExport {
                            kind,
                            instance_index,
                            name,
                        } => {
                            let def = spaces.export(instance_index, name)?;
                            spaces.space(kind).push(def);
                        }
                        ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Func,
                            instance_index,
                            name,
                        } => {
                            let from = spaces
                                .component_instances
                                .get(instance_index as usize)
                                .cloned()
                                .flatten();
                            spaces
                                .component_funcs
                                .push(from.map(|interface| (interface, name.to_string())));
                        }
                        ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Instance,
                            ..
                        } => spaces.component_instances.push(None),
                        _ => {}
                    }
                }
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import?;
                    match import.ty {
                        ComponentTypeRef::Func(_) => spaces
                            .component_funcs
                            .push(Some((import.name.name.to_string(), String::new()))),
                        ComponentTypeRef::Instance(_) => {
                            graph.imported_instances.push((
                                spaces.component_instances.len() as u32,
                                import.name.name.to_string(),
                            ));
                            spaces
                                .component_instances
                                .push(Some(import.name.name.to_string()))
                        }
                        _ => {}
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                for instance in reader {
                    if let ComponentInstance::FromExports(exports) = instance? {
                        let funcs = exports
                            .iter()
                            .filter(|e| e.kind == ComponentExternalKind::Func)
                            .map(|e| (e.name.name.to_string(), e.index))
                            .collect();
                        let at = spaces.component_instances.len() as u32;
                        spaces.gathered.insert(at, funcs);
                    }
                    spaces.component_instances.push(None);
                }
            }
            Payload::ComponentExportSection(reader) => {
                // An export is a new index of its kind, naming the same item.
                for export in reader {
                    let export = export?;
                    let at = export.index as usize;
                    match export.kind {
                        ComponentExternalKind::Func => {
                            if let Some(c) = spaces.lifted.get(&export.index).copied() {
                                graph.lift_exports.insert(c, export.name.name.to_string());
                                let new = spaces.component_funcs.len() as u32;
                                spaces.lifted.insert(new, c);
                            }
                            let same = spaces.component_funcs.get(at).cloned().flatten();
                            spaces.component_funcs.push(same);
                        }
                        ComponentExternalKind::Instance => {
                            for (name, func) in
                                spaces.gathered.get(&export.index).into_iter().flatten()
                            {
                                if let Some(c) = spaces.lifted.get(func) {
                                    graph
                                        .lift_exports
                                        .insert(*c, format!("{}#{name}", export.name.name));
                                }
                            }
                            let same = spaces.component_instances.get(at).cloned().flatten();
                            spaces.component_instances.push(same);
                        }
                        _ => {}
                    }
                }
            }
            Payload::ComponentCanonicalSection(reader) => {
                for function in reader {
                    let canonical = match function? {
                        CanonicalFunction::Lift {
                            core_func_index,
                            type_index,
                            options,
                        } => Canonical::Lift {
                            core: spaces.item(ExternalKind::Func, core_func_index)?,
                            ty: type_index,
                            options: spaces.options(&options)?,
                        },
                        CanonicalFunction::Lower {
                            func_index,
                            options,
                        } => Canonical::Lower {
                            func: func_index,
                            import: spaces
                                .component_funcs
                                .get(func_index as usize)
                                .cloned()
                                .flatten(),
                            options: spaces.options(&options)?,
                        },
                        CanonicalFunction::ResourceNew { resource } => Canonical::Resource {
                            op: "new",
                            ty: resource,
                        },
                        CanonicalFunction::ResourceDrop { resource } => Canonical::Resource {
                            op: "drop",
                            ty: resource,
                        },
                        CanonicalFunction::ResourceRep { resource } => Canonical::Resource {
                            op: "rep",
                            ty: resource,
                        },
                        other => Canonical::Other(canonical_kind(&other)),
                    };
                    let index = graph.canonicals.len();
                    // Every canonical function but `lift` is a core
                    // function; `lift` is a component function.
                    if matches!(canonical, Canonical::Lift { .. }) {
                        spaces
                            .lifted
                            .insert(spaces.component_funcs.len() as u32, index);
                        spaces.component_funcs.push(None);
                    } else {
                        spaces.funcs.push(CoreDef::Canonical(index));
                    }
                    graph.canonicals.push(canonical);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(graph)
}
