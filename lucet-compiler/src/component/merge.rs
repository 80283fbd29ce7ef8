//! A component made into one core module, ahead of time.
//!
//! The component's core instances are laid end to end: each instantiation
//! brings its module's types, functions, tables, memories, globals, tags,
//! element and data segments, renumbered into the merged index spaces, and
//! each import is replaced by what the component binds it to: another
//! instance's export becomes a reference to that item, a canonical `lower`
//! (or `resource.drop`) an import of the merged module, named by the host
//! function it lowers. A lowered function whose result holds strings or
//! lists gets adapter code in the merged module, which allocates the
//! result's blocks with the guest's `realloc` as the host asks
//! ([`lucet_component::Lower::allocates`]). Canonical `lift`s become
//! exports. The start functions run in instance order, from one start
//! function.
//!
//! What comes out is described by a [`ComponentAbi`]: the component-level
//! types of every import and export, for the host.

use std::collections::HashMap;

use lucet_component::{
    flatten, ComponentAbi, CoreType, Lift, Lower, LowerKind, ResourceName, Signature,
    StringEncoding, ValType, ALLOCATED, ALLOCATION_MODULE, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS,
    PENDING_ALLOCATION,
};
use wasm_encoder::reencode::Reencode;
use wasm_encoder::{
    CodeSection, DataCountSection, DataSection, ElementSection, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, ImportSection, Instruction,
    MemorySection, Module, NameMap, NameSection, StartSection, TableSection, TagSection,
    TypeSection,
};
use wasmparser::component_types::{
    AliasableResourceId, ComponentAnyTypeId, ComponentDefinedType, ComponentEntityType,
    ComponentFuncTypeId, ComponentValType, ResourceId,
};
use wasmparser::types::TypesRef;
use wasmparser::{
    ExternalKind, KnownCustom, Name, Parser, Payload, PrimitiveValType, TypeRef, Validator,
};

use super::graph::{core_graph, CanonOptions, Canonical, CoreDef, CoreGraph};
use super::parts::{features, walk_top_level, TopLevel};
use crate::Error;

/// A component as one core module and what its host must know of it.
#[derive(Debug, Clone)]
pub struct MergedComponent {
    /// The core module, encoded.
    pub module: Vec<u8>,
    /// Its imports and exports at the component level.
    pub abi: ComponentAbi,
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::Component(what.to_string())
}

fn malformed(what: &str) -> Error {
    Error::Invalid {
        message: format!("component: {what}"),
        offset: 0,
    }
}

/// The index spaces of a core module: what it imports and defines.
#[derive(Default)]
struct Shape<'a> {
    bytes: &'a [u8],
    imports: Vec<TypeRef>,
    types: u32,
    funcs: u32,
    tables: u32,
    memories: u32,
    globals: u32,
    tags: u32,
    elements: u32,
    datas: u32,
    has_data_count: bool,
    exports: HashMap<String, (ExternalKind, u32)>,
    start: Option<u32>,
}

impl<'a> Shape<'a> {
    fn read(bytes: &'a [u8]) -> Result<Shape<'a>, Error> {
        let mut shape = Shape {
            bytes,
            ..Shape::default()
        };
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::TypeSection(r) => {
                    for group in r {
                        shape.types += group?.types().len() as u32;
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.into_imports() {
                        shape.imports.push(import?.ty);
                    }
                }
                Payload::FunctionSection(r) => shape.funcs = r.count(),
                Payload::TableSection(r) => shape.tables = r.count(),
                Payload::MemorySection(r) => shape.memories = r.count(),
                Payload::GlobalSection(r) => shape.globals = r.count(),
                Payload::TagSection(r) => shape.tags = r.count(),
                Payload::ElementSection(r) => shape.elements = r.count(),
                Payload::DataSection(r) => shape.datas = r.count(),
                Payload::DataCountSection { .. } => shape.has_data_count = true,
                Payload::StartSection { func, .. } => shape.start = Some(func),
                Payload::ExportSection(r) => {
                    for export in r {
                        let export = export?;
                        shape
                            .exports
                            .insert(export.name.to_string(), (export.kind, export.index));
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }
}

/// Where one instantiation's items went in the merged module.
#[derive(Default)]
struct Renumber {
    types: u32,
    funcs: Vec<u32>,
    tables: Vec<u32>,
    memories: Vec<u32>,
    globals: Vec<u32>,
    tags: Vec<u32>,
    elements: u32,
    datas: u32,
}

impl Renumber {
    fn space(&self, kind: ExternalKind) -> &[u32] {
        match kind {
            ExternalKind::Func | ExternalKind::FuncExact => &self.funcs,
            ExternalKind::Table => &self.tables,
            ExternalKind::Memory => &self.memories,
            ExternalKind::Global => &self.globals,
            ExternalKind::Tag => &self.tags,
        }
    }
}

fn lookup(space: &[u32], index: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
    space.get(index as usize).copied().ok_or_else(|| {
        wasm_encoder::reencode::Error::UserError(malformed("an index is out of range"))
    })
}

impl Reencode for Renumber {
    type Error = Error;

    fn type_index(&mut self, ty: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        Ok(self.types + ty)
    }
    fn function_index(&mut self, f: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        lookup(&self.funcs, f)
    }
    fn table_index(&mut self, t: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        lookup(&self.tables, t)
    }
    fn memory_index(&mut self, m: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        lookup(&self.memories, m)
    }
    fn global_index(&mut self, g: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        lookup(&self.globals, g)
    }
    fn tag_index(&mut self, t: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        lookup(&self.tags, t)
    }
    fn element_index(&mut self, e: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        Ok(self.elements + e)
    }
    fn data_index(&mut self, d: u32) -> Result<u32, wasm_encoder::reencode::Error<Error>> {
        Ok(self.datas + d)
    }
}

fn reencode_error(e: wasm_encoder::reencode::Error<Error>) -> Error {
    match e {
        wasm_encoder::reencode::Error::UserError(e) => e,
        wasm_encoder::reencode::Error::ParseError(e) => e.into(),
        other => malformed(&other.to_string()),
    }
}

/// The component-level types, with the resources they name collected.
struct TypeReader<'t> {
    types: TypesRef<'t>,
    /// Every resource of an imported instance, by id: its name.
    names: HashMap<ResourceId, ResourceName>,
    resources: Vec<ResourceName>,
}

impl TypeReader<'_> {
    fn resource(&mut self, id: AliasableResourceId) -> Result<u32, Error> {
        let name = self.names.get(&id.resource()).ok_or_else(|| {
            unsupported("a resource type the component defines, or imports outside an interface")
        })?;
        Ok(match self.resources.iter().position(|r| r == name) {
            Some(i) => i as u32,
            None => {
                self.resources.push(name.clone());
                self.resources.len() as u32 - 1
            }
        })
    }

    fn val_type(&mut self, ty: &ComponentValType) -> Result<ValType, Error> {
        let id = match ty {
            ComponentValType::Primitive(p) => return primitive(*p),
            ComponentValType::Type(id) => *id,
        };
        let types = self.types;
        Ok(match &types[id] {
            ComponentDefinedType::Primitive(p) => primitive(*p)?,
            ComponentDefinedType::Record(r) => ValType::Record(
                r.fields
                    .iter()
                    .map(|(n, t)| Ok((n.to_string(), self.val_type(t)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            ComponentDefinedType::Variant(v) => ValType::Variant(
                v.cases
                    .iter()
                    .map(|(n, c)| {
                        Ok((
                            n.to_string(),
                            c.ty.as_ref().map(|t| self.val_type(t)).transpose()?,
                        ))
                    })
                    .collect::<Result<_, Error>>()?,
            ),
            ComponentDefinedType::List { element, .. } => {
                ValType::List(Box::new(self.val_type(element)?))
            }
            ComponentDefinedType::Tuple(t) => ValType::Tuple(
                t.types
                    .iter()
                    .map(|t| self.val_type(t))
                    .collect::<Result<_, Error>>()?,
            ),
            ComponentDefinedType::Flags(names) => {
                ValType::Flags(names.iter().map(|n| n.to_string()).collect())
            }
            ComponentDefinedType::Enum(names) => {
                ValType::Enum(names.iter().map(|n| n.to_string()).collect())
            }
            ComponentDefinedType::Option { ty, .. } => {
                ValType::Option(Box::new(self.val_type(ty)?))
            }
            ComponentDefinedType::Result { ok, err, .. } => ValType::Result {
                ok: ok
                    .as_ref()
                    .map(|t| self.val_type(t))
                    .transpose()?
                    .map(Box::new),
                err: err
                    .as_ref()
                    .map(|t| self.val_type(t))
                    .transpose()?
                    .map(Box::new),
            },
            ComponentDefinedType::Own(r) => ValType::Own(self.resource(*r)?),
            ComponentDefinedType::Borrow(r) => ValType::Borrow(self.resource(*r)?),
            ComponentDefinedType::Future { .. } | ComponentDefinedType::Stream { .. } => {
                return Err(unsupported("futures or streams (WASI 0.3)"))
            }
            ComponentDefinedType::Map { .. } | ComponentDefinedType::FixedLengthList { .. } => {
                return Err(unsupported("maps or fixed-length lists"))
            }
        })
    }

    fn signature(&mut self, id: ComponentFuncTypeId) -> Result<Signature, Error> {
        let types = self.types;
        let func = &types[id];
        if func.async_ {
            return Err(unsupported("async functions (WASI 0.3)"));
        }
        Ok(Signature {
            params: func
                .params
                .iter()
                .map(|(n, t)| Ok((n.to_string(), self.val_type(t)?)))
                .collect::<Result<_, Error>>()?,
            result: func.result.as_ref().map(|t| self.val_type(t)).transpose()?,
        })
    }
}

fn primitive(p: PrimitiveValType) -> Result<ValType, Error> {
    Ok(match p {
        PrimitiveValType::Bool => ValType::Bool,
        PrimitiveValType::S8 => ValType::S8,
        PrimitiveValType::U8 => ValType::U8,
        PrimitiveValType::S16 => ValType::S16,
        PrimitiveValType::U16 => ValType::U16,
        PrimitiveValType::S32 => ValType::S32,
        PrimitiveValType::U32 => ValType::U32,
        PrimitiveValType::S64 => ValType::S64,
        PrimitiveValType::U64 => ValType::U64,
        PrimitiveValType::F32 => ValType::F32,
        PrimitiveValType::F64 => ValType::F64,
        PrimitiveValType::Char => ValType::Char,
        PrimitiveValType::String => ValType::String,
        PrimitiveValType::ErrorContext => return Err(unsupported("error contexts (WASI 0.3)")),
    })
}

/// Whether lowering a value of this type allocates (it holds strings or
/// lists).
fn allocates(ty: &ValType) -> bool {
    match ty {
        ValType::String | ValType::List(_) => true,
        ValType::Record(fields) => fields.iter().any(|(_, t)| allocates(t)),
        ValType::Tuple(types) => types.iter().any(allocates),
        ValType::Variant(cases) => cases.iter().any(|(_, t)| t.as_ref().is_some_and(allocates)),
        ValType::Option(t) => allocates(t),
        ValType::Result { ok, err } => {
            ok.as_deref().is_some_and(allocates) || err.as_deref().is_some_and(allocates)
        }
        _ => false,
    }
}

fn core_val_type(t: CoreType) -> wasm_encoder::ValType {
    match t {
        CoreType::I32 => wasm_encoder::ValType::I32,
        CoreType::I64 => wasm_encoder::ValType::I64,
        CoreType::F32 => wasm_encoder::ValType::F32,
        CoreType::F64 => wasm_encoder::ValType::F64,
    }
}

/// The core signature of a lowered function: its flat parameters (or a
/// pointer to them in memory), and its flat result or a pointer to where
/// the result goes, appended to the parameters.
fn lowered_core_type(sig: &Signature) -> (Vec<wasm_encoder::ValType>, Vec<wasm_encoder::ValType>) {
    let mut params: Vec<CoreType> = sig.params.iter().flat_map(|(_, t)| flatten(t)).collect();
    if params.len() > MAX_FLAT_PARAMS {
        params = vec![CoreType::I32];
    }
    let mut results: Vec<CoreType> = sig.result.iter().flat_map(flatten).collect();
    if results.len() > MAX_FLAT_RESULTS {
        params.push(CoreType::I32);
        results.clear();
    }
    (
        params.into_iter().map(core_val_type).collect(),
        results.into_iter().map(core_val_type).collect(),
    )
}

/// What a canonical function that core code calls became in the merged
/// module.
#[derive(Clone, Copy)]
struct Placed {
    /// The merged module's import for it.
    import: u32,
    /// Its adapter, if it has one (then core code calls the adapter).
    adapter: Option<u32>,
}

/// Turns a component into one core module and the description of its
/// interface.
pub fn merge_component(bytes: &[u8]) -> Result<MergedComponent, Error> {
    let mut validator = Validator::new_with_features(features());
    let types = validator.validate_all(bytes)?;
    let types = types.as_ref();
    let graph = core_graph(bytes)?;
    let mut modules = Vec::new();
    walk_top_level(bytes, |item| {
        if let TopLevel::Module(m) = item {
            modules.push(m);
        }
        Ok(())
    })?;
    let shapes = graph
        .instantiations
        .iter()
        .map(|i| {
            let bytes = modules
                .get(i.module as usize)
                .ok_or_else(|| malformed("a module index is out of range"))?;
            Shape::read(bytes)
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let mut reader = TypeReader {
        types,
        names: resource_names(types, &graph),
        resources: Vec::new(),
    };

    // The canonical functions core code calls, in the order first met: the
    // merged module's imports.
    let mut used = Vec::new();
    for inst in &graph.instantiations {
        for (_, _, def) in &inst.imports {
            if let CoreDef::Canonical(c) = def {
                if !used.contains(c) {
                    used.push(*c);
                }
            }
        }
    }
    let mut lowers = Vec::new();
    let mut lower_options = Vec::new();
    for &c in &used {
        let (lower, options) = describe_lower(&graph, c, &mut reader)?;
        lowers.push(lower);
        lower_options.push(options);
    }
    let any_allocates = lowers.iter().any(|l| l.allocates);

    // Types: every instantiation's own, then those of the imports, the
    // allocation calls, the adapters and the start function.
    let mut renumbers: Vec<Renumber> = Vec::new();
    let mut next_type = 0;
    for shape in &shapes {
        renumbers.push(Renumber {
            types: next_type,
            ..Renumber::default()
        });
        next_type += shape.types;
    }
    let mut type_section = TypeSection::new();
    for (shape, renumber) in shapes.iter().zip(&mut renumbers) {
        for payload in Parser::new(0).parse_all(shape.bytes) {
            if let Payload::TypeSection(r) = payload? {
                renumber
                    .parse_type_section(&mut type_section, r)
                    .map_err(reencode_error)?;
            }
        }
    }
    let mut add_type = |params: Vec<wasm_encoder::ValType>, results: Vec<wasm_encoder::ValType>| {
        type_section.ty().function(params, results);
        next_type += 1;
        next_type - 1
    };

    // Functions: the imports, each instantiation's own, the adapters, the
    // start function.
    // A function lowered twice (by the app and by an adapter module) is
    // imported once.
    let mut imports = ImportSection::new();
    let mut distinct: Vec<Lower> = Vec::new();
    let mut placed = Vec::new();
    let mut adapter_types = Vec::new();
    for lower in &lowers {
        let (params, results) = match &lower.kind {
            LowerKind::Call => lowered_core_type(&lower.signature),
            LowerKind::ResourceDrop { .. } => (vec![wasm_encoder::ValType::I32], vec![]),
        };
        let import_results = if lower.allocates {
            if !results.is_empty() {
                return Err(malformed("a result that allocates is not passed in memory"));
            }
            vec![wasm_encoder::ValType::I32]
        } else {
            results.clone()
        };
        let same = distinct
            .iter()
            .position(|d| d.module == lower.module && d.name == lower.name);
        let import = match same {
            Some(i) if distinct[i] == *lower => i as u32,
            Some(i) if distinct[i].string_encoding != lower.string_encoding => {
                return Err(unsupported(
                    "a function lowered with two string encodings (imported once, it has one)",
                ))
            }
            Some(_) => return Err(malformed("a function is lowered with two types")),
            None => {
                let ty = add_type(params.clone(), import_results);
                imports.import(&lower.module, &lower.name, EntityType::Function(ty));
                distinct.push(lower.clone());
                distinct.len() as u32 - 1
            }
        };
        if lower.allocates {
            adapter_types.push((placed.len(), add_type(params, results)));
        }
        placed.push(Placed {
            import,
            adapter: None,
        });
    }
    let mut next_func = distinct.len() as u32;
    let (pending, allocated) = if any_allocates {
        let pending_ty = add_type(vec![], vec![wasm_encoder::ValType::I64]);
        let allocated_ty = add_type(
            vec![wasm_encoder::ValType::I32],
            vec![wasm_encoder::ValType::I32],
        );
        imports.import(
            ALLOCATION_MODULE,
            PENDING_ALLOCATION,
            EntityType::Function(pending_ty),
        );
        imports.import(
            ALLOCATION_MODULE,
            ALLOCATED,
            EntityType::Function(allocated_ty),
        );
        next_func += 2;
        (next_func - 2, next_func - 1)
    } else {
        (0, 0)
    };
    let start_ty = shapes
        .iter()
        .any(|s| s.start.is_some())
        .then(|| add_type(vec![], vec![]));

    // Every instantiation's items, imports resolved.
    let (mut next_table, mut next_memory, mut next_global, mut next_tag) = (0, 0, 0, 0);
    let (mut next_element, mut next_data) = (0, 0);
    let func_bases: Vec<u32> = {
        let mut bases = Vec::new();
        let mut at = next_func;
        for shape in &shapes {
            bases.push(at);
            at += shape.funcs;
        }
        next_func = at;
        bases
    };
    for (lower_at, _) in &adapter_types {
        placed[*lower_at].adapter = Some(next_func);
        next_func += 1;
    }
    let start_func = start_ty.map(|_| next_func);

    let canonical_func = |c: usize| -> Result<u32, Error> {
        let at = used
            .iter()
            .position(|u| *u == c)
            .ok_or_else(|| malformed("a canonical function is used but not placed"))?;
        Ok(placed[at].adapter.unwrap_or(placed[at].import))
    };

    for (i, (inst, shape)) in graph.instantiations.iter().zip(&shapes).enumerate() {
        if inst.imports.len() != shape.imports.len() {
            return Err(malformed(
                "an instantiation does not match its module's imports",
            ));
        }
        let (done, rest) = renumbers.split_at_mut(i);
        let renumber = &mut rest[0];
        for ((_, _, def), ty) in inst.imports.iter().zip(&shape.imports) {
            let kind = match ty {
                TypeRef::Func(_) | TypeRef::FuncExact(_) => ExternalKind::Func,
                TypeRef::Table(_) => ExternalKind::Table,
                TypeRef::Memory(_) => ExternalKind::Memory,
                TypeRef::Global(_) => ExternalKind::Global,
                TypeRef::Tag(_) => ExternalKind::Tag,
            };
            let index = match def {
                CoreDef::Canonical(c) if kind == ExternalKind::Func => canonical_func(*c)?,
                CoreDef::Canonical(_) => {
                    return Err(malformed(
                        "a canonical function bound to a non-function import",
                    ))
                }
                CoreDef::Export { instance, name } => {
                    resolve(&shapes, done, *instance, name, kind)?
                }
            };
            match kind {
                ExternalKind::Func | ExternalKind::FuncExact => renumber.funcs.push(index),
                ExternalKind::Table => renumber.tables.push(index),
                ExternalKind::Memory => renumber.memories.push(index),
                ExternalKind::Global => renumber.globals.push(index),
                ExternalKind::Tag => renumber.tags.push(index),
            }
        }
        renumber
            .funcs
            .extend(func_bases[i]..func_bases[i] + shape.funcs);
        renumber
            .tables
            .extend(next_table..next_table + shape.tables);
        next_table += shape.tables;
        renumber
            .memories
            .extend(next_memory..next_memory + shape.memories);
        next_memory += shape.memories;
        renumber
            .globals
            .extend(next_global..next_global + shape.globals);
        next_global += shape.globals;
        renumber.tags.extend(next_tag..next_tag + shape.tags);
        next_tag += shape.tags;
        renumber.elements = next_element;
        next_element += shape.elements;
        renumber.datas = next_data;
        next_data += shape.datas;
    }

    // Segments are applied when the merged module is instantiated, before
    // any start function runs; in the component, a later instance's
    // segments come after an earlier one's start. Only components where
    // that cannot be told apart are taken.
    if let Some(first_start) = shapes.iter().position(|s| s.start.is_some()) {
        if shapes[first_start + 1..]
            .iter()
            .any(|s| s.elements > 0 || s.datas > 0)
        {
            return Err(unsupported(
                "an instance with a start function followed by one with segments",
            ));
        }
    }

    // The sections of every instantiation.
    let mut functions = FunctionSection::new();
    let mut tables = TableSection::new();
    let mut memories = MemorySection::new();
    let mut globals = GlobalSection::new();
    let mut tags = TagSection::new();
    let mut elements = ElementSection::new();
    let mut code = CodeSection::new();
    let mut data = DataSection::new();
    let mut has_data_count = false;
    // Function names, for traps and profiles: each module's own, at their
    // merged indices (malformed names are left out, as a module's are).
    let mut func_names: Vec<(u32, String)> = Vec::new();
    for (shape, renumber) in shapes.iter().zip(&mut renumbers) {
        has_data_count |= shape.has_data_count;
        let imported = shape
            .imports
            .iter()
            .filter(|t| matches!(t, TypeRef::Func(_) | TypeRef::FuncExact(_)))
            .count() as u32;
        for payload in Parser::new(0).parse_all(shape.bytes) {
            let result = match payload? {
                Payload::CustomSection(c) => {
                    if let KnownCustom::Name(reader) = c.as_known() {
                        for name in reader.into_iter().flatten() {
                            if let Name::Function(map) = name {
                                for naming in map.into_iter().flatten() {
                                    if naming.index < imported {
                                        continue;
                                    }
                                    if let Some(at) = renumber.funcs.get(naming.index as usize) {
                                        func_names.push((*at, naming.name.to_string()));
                                    }
                                }
                            }
                        }
                    }
                    Ok(())
                }
                Payload::FunctionSection(r) => renumber.parse_function_section(&mut functions, r),
                Payload::TableSection(r) => renumber.parse_table_section(&mut tables, r),
                Payload::MemorySection(r) => renumber.parse_memory_section(&mut memories, r),
                Payload::GlobalSection(r) => renumber.parse_global_section(&mut globals, r),
                Payload::TagSection(r) => renumber.parse_tag_section(&mut tags, r),
                Payload::ElementSection(r) => renumber.parse_element_section(&mut elements, r),
                Payload::CodeSectionEntry(body) => renumber.parse_function_body(&mut code, body),
                Payload::DataSection(r) => renumber.parse_data_section(&mut data, r),
                _ => Ok(()),
            };
            result.map_err(reencode_error)?;
        }
    }

    let resolve_func = |def: &CoreDef| -> Result<u32, Error> {
        match def {
            CoreDef::Canonical(c) => canonical_func(*c),
            CoreDef::Export { instance, name } => {
                resolve(&shapes, &renumbers, *instance, name, ExternalKind::Func)
            }
        }
    };

    // Every canonical function must use the first memory: that is the
    // memory the host reads and writes.
    let check_memory = |options: &CanonOptions| -> Result<(), Error> {
        if let Some(m) = &options.memory {
            let CoreDef::Export { instance, name } = m else {
                return Err(malformed("a memory option names a canonical function"));
            };
            if resolve(&shapes, &renumbers, *instance, name, ExternalKind::Memory)? != 0 {
                return Err(unsupported(
                    "a canonical function using a memory other than the first",
                ));
            }
        }
        Ok(())
    };

    // The adapters of lowered functions whose results allocate.
    for (lower_at, ty) in &adapter_types {
        let lower = &lowers[*lower_at];
        let options = &lower_options[*lower_at];
        let realloc = options
            .realloc
            .as_ref()
            .ok_or_else(|| malformed("a lowered function returns a list but has no realloc"))?;
        let realloc = resolve_func(realloc)?;
        functions.function(*ty);
        let params = lowered_core_type(&lower.signature).0.len() as u32;
        code.function(&allocating_adapter(
            params,
            placed[*lower_at].import,
            pending,
            allocated,
            realloc,
        ));
    }
    for options in &lower_options {
        check_memory(options)?;
    }
    if let (Some(ty), Some(_)) = (start_ty, start_func) {
        functions.function(ty);
        let mut f = Function::new([]);
        for (shape, renumber) in shapes.iter().zip(&renumbers) {
            if let Some(s) = shape.start {
                f.instruction(&Instruction::Call(renumber.funcs[s as usize]));
            }
        }
        f.instruction(&Instruction::End);
        code.function(&f);
    }

    // Exports: the lifted functions and their post-returns, and the memory.
    let mut exports = ExportSection::new();
    let mut lifts = Vec::new();
    let mut exported = Vec::new();
    for (c, canonical) in graph.canonicals.iter().enumerate() {
        let Canonical::Lift { core, ty, options } = canonical else {
            continue;
        };
        if options.is_async {
            return Err(unsupported("async functions (WASI 0.3)"));
        }
        check_memory(options)?;
        let func = match types.component_any_type_at(*ty) {
            ComponentAnyTypeId::Func(f) => f,
            _ => return Err(malformed("a lift's type is not a function type")),
        };
        let signature = reader.signature(func)?;
        let name = match (graph.lift_exports.get(&c), core) {
            (Some(exported), _) => exported.clone(),
            (None, CoreDef::Export { name, .. }) => name.clone(),
            (None, CoreDef::Canonical(_)) => format!("lift-{c}"),
        };
        if exported.contains(&name) {
            continue;
        }
        exports.export(&name, ExportKind::Func, resolve_func(core)?);
        exported.push(name.clone());
        let post_return = match &options.post_return {
            Some(post) => {
                let post_name = format!("cabi_post_{name}");
                exports.export(&post_name, ExportKind::Func, resolve_func(post)?);
                exported.push(post_name.clone());
                Some(post_name)
            }
            None => None,
        };
        lifts.push(Lift {
            export: name,
            signature,
            post_return,
        });
    }
    if next_memory > 0 {
        exports.export("memory", ExportKind::Memory, 0);
    }

    let mut module = Module::new();
    module.section(&type_section);
    module.section(&imports);
    module.section(&functions);
    module.section(&tables);
    module.section(&memories);
    module.section(&tags);
    module.section(&globals);
    module.section(&exports);
    if let Some(start) = start_func {
        module.section(&StartSection {
            function_index: start,
        });
    }
    module.section(&elements);
    if has_data_count {
        module.section(&DataCountSection { count: next_data });
    }
    module.section(&code);
    module.section(&data);
    for (lower_at, _) in &adapter_types {
        if let Some(at) = placed[*lower_at].adapter {
            let lower = &lowers[*lower_at];
            func_names.push((at, format!("adapter of {}.{}", lower.module, lower.name)));
        }
    }
    if let Some(at) = start_func {
        func_names.push((at, "start of the component's instances".into()));
    }
    if !func_names.is_empty() {
        func_names.sort_by_key(|(i, _)| *i);
        func_names.dedup_by_key(|(i, _)| *i);
        let mut map = NameMap::new();
        for (i, name) in &func_names {
            map.append(*i, name);
        }
        let mut names = NameSection::new();
        names.functions(&map);
        module.section(&names);
    }

    Ok(MergedComponent {
        module: module.finish(),
        abi: ComponentAbi {
            resources: reader.resources,
            lowers: distinct,
            lifts,
        },
    })
}

/// The merged index of export `name` (of kind `kind`) of instantiation
/// `instance`, which `renumbers` has placed.
fn resolve(
    shapes: &[Shape<'_>],
    renumbers: &[Renumber],
    instance: usize,
    name: &str,
    kind: ExternalKind,
) -> Result<u32, Error> {
    let shape = shapes
        .get(instance)
        .ok_or_else(|| malformed("an instance is used before it exists"))?;
    let renumber = renumbers
        .get(instance)
        .ok_or_else(|| malformed("an instance is used before it exists"))?;
    let (found, index) = shape
        .exports
        .get(name)
        .ok_or_else(|| malformed("an instance lacks an export it is asked for"))?;
    let same = matches!(
        (found, kind),
        (
            ExternalKind::Func | ExternalKind::FuncExact,
            ExternalKind::Func | ExternalKind::FuncExact
        )
    ) || *found == kind;
    if !same {
        return Err(malformed("an export is of another kind than its import"));
    }
    renumber
        .space(kind)
        .get(*index as usize)
        .copied()
        .ok_or_else(|| malformed("an export index is out of range"))
}

/// Each resource exported by an imported instance, by id: its name.
fn resource_names(types: TypesRef<'_>, graph: &CoreGraph) -> HashMap<ResourceId, ResourceName> {
    let mut names = HashMap::new();
    for (index, interface) in &graph.imported_instances {
        let instance = &types[types.component_instance_at(*index)];
        for (name, item) in &instance.exports {
            if let ComponentEntityType::Type {
                referenced: ComponentAnyTypeId::Resource(r),
                created,
            } = item.ty
            {
                let resource = ResourceName {
                    interface: interface.clone(),
                    name: name.clone(),
                };
                // An interface that uses another's resource exports it
                // too: the first import, which defines it, names it.
                names
                    .entry(r.resource())
                    .or_insert_with(|| resource.clone());
                if let ComponentAnyTypeId::Resource(c) = created {
                    names.entry(c.resource()).or_insert(resource);
                }
            }
        }
    }
    names
}

/// The host function canonical function `c` (a `lower` or a
/// `resource.drop`) stands for, and its options.
fn describe_lower(
    graph: &CoreGraph,
    c: usize,
    reader: &mut TypeReader<'_>,
) -> Result<(Lower, CanonOptions), Error> {
    match &graph.canonicals[c] {
        Canonical::Lower {
            func,
            import,
            options,
        } => {
            if options.is_async {
                return Err(unsupported("async functions (WASI 0.3)"));
            }
            let (module, name) = import
                .clone()
                .ok_or_else(|| unsupported("a lowered function the component does not import (an adapter between components)"))?;
            let signature = reader.signature(reader.types.component_function_at(*func))?;
            let allocates = signature.result.as_ref().is_some_and(allocates);
            Ok((
                Lower {
                    module,
                    name,
                    kind: LowerKind::Call,
                    signature,
                    allocates,
                    string_encoding: options.string_encoding,
                },
                options.clone(),
            ))
        }
        Canonical::Resource { op: "drop", ty } => {
            let resource = match reader.types.component_any_type_at(*ty) {
                ComponentAnyTypeId::Resource(r) => reader.resource(r)?,
                _ => return Err(malformed("resource.drop of a type that is not a resource")),
            };
            let name = &reader.resources[resource as usize];
            Ok((
                Lower {
                    module: name.interface.clone(),
                    name: format!("[resource-drop]{}", name.name),
                    kind: LowerKind::ResourceDrop { resource },
                    signature: Signature::default(),
                    allocates: false,
                    string_encoding: StringEncoding::Utf8,
                },
                CanonOptions::default(),
            ))
        }
        Canonical::Resource { op, .. } => Err(unsupported(format!(
            "resource.{op} (resources of the component's own)"
        ))),
        Canonical::Other(what) => Err(unsupported(what.clone())),
        Canonical::Lift { .. } => Err(malformed("a lifted function is called as a core function")),
    }
}

/// The adapter of a lowered function whose result allocates: it calls the
/// host's import with its own parameters (the last is where the result
/// goes), then, while the host asks for blocks, allocates each with the
/// guest's `realloc(0, 0, align, size)` and hands it over.
fn allocating_adapter(
    params: u32,
    import: u32,
    pending: u32,
    allocated: u32,
    realloc: u32,
) -> Function {
    let wanted = params; // i32: blocks still wanted
    let next = params + 1; // i64: align << 32 | size
    let mut f = Function::new([
        (1, wasm_encoder::ValType::I32),
        (1, wasm_encoder::ValType::I64),
    ]);
    for p in 0..params {
        f.instruction(&Instruction::LocalGet(p));
    }
    f.instruction(&Instruction::Call(import));
    f.instruction(&Instruction::LocalSet(wanted));
    f.instruction(&Instruction::Block(wasm_encoder::BlockType::Empty));
    f.instruction(&Instruction::Loop(wasm_encoder::BlockType::Empty));
    f.instruction(&Instruction::LocalGet(wanted));
    f.instruction(&Instruction::I32Eqz);
    f.instruction(&Instruction::BrIf(1));
    f.instruction(&Instruction::Call(pending));
    f.instruction(&Instruction::LocalSet(next));
    f.instruction(&Instruction::I32Const(0));
    f.instruction(&Instruction::I32Const(0));
    f.instruction(&Instruction::LocalGet(next));
    f.instruction(&Instruction::I64Const(32));
    f.instruction(&Instruction::I64ShrU);
    f.instruction(&Instruction::I32WrapI64);
    f.instruction(&Instruction::LocalGet(next));
    f.instruction(&Instruction::I32WrapI64);
    f.instruction(&Instruction::Call(realloc));
    f.instruction(&Instruction::Call(allocated));
    f.instruction(&Instruction::LocalSet(wanted));
    f.instruction(&Instruction::Br(0));
    f.instruction(&Instruction::End);
    f.instruction(&Instruction::End);
    f.instruction(&Instruction::End);
    f
}
