//! Reading and validating a module: every section, and every function body.
//!
//! The whole module is validated here, function bodies included (in
//! parallel), before any of it is translated: the translator relies on
//! validation's invariants and never sees malformed input.

use std::collections::{BTreeSet, HashMap};

use lucet_module::{
    CompositeType, ConstExpr, ConstOp, ElemItems, ElemSegment, ElemSegmentKind, Export, ExportKind,
    FieldType, FuncType, GlobalSpec, HeapType, ImportName, RefType, StorageType, StructLayout,
    SubType, TableSpec, TagSpec, TypeKind, ValType,
};
use rayon::prelude::*;
use wasmparser::{
    DataKind, ElementItems, ElementKind, ExternalKind, FuncToValidate, FuncValidatorAllocations,
    KnownCustom, Name, Operator, Parser, Payload, TypeRef, Validator, ValidatorResources,
    WasmFeatures,
};

use crate::{Error, Standard};

/// The features modules are validated with. WebAssembly 3.0: tail calls,
/// exception handling, multi-memory, memory64, typed function references,
/// extended constant expressions, relaxed SIMD and GC.
pub fn features(standard: Standard) -> WasmFeatures {
    match standard {
        Standard::Wasm2 => WasmFeatures::WASM2,
        Standard::Wasm3 => WasmFeatures::WASM3.difference(WasmFeatures::THREADS),
    }
}

/// A function declaration of the index space.
#[derive(Debug, Clone)]
pub struct FuncDecl {
    pub type_index: u32,
    pub import: Option<ImportName>,
}

/// A linear memory as declared.
#[derive(Debug, Clone)]
pub struct MemoryDecl {
    pub initial_pages: u64,
    pub max_pages: Option<u64>,
    pub import: Option<ImportName>,
    /// Whether its addresses are 64 bits (memory64).
    pub memory64: bool,
}

/// A data segment as declared.
#[derive(Debug, Clone)]
pub struct DataDecl<'data> {
    /// The memory an active segment initializes.
    pub memory: u32,
    pub active_offset: Option<ConstExpr>,
    pub bytes: &'data [u8],
}

/// A validated function body waiting for translation.
pub struct BodyToTranslate<'data> {
    pub func_index: u32,
    pub body: wasmparser::FunctionBody<'data>,
    /// What validating the body takes: the translator runs a validator
    /// alongside (for the types of operand-stack values) in modules that
    /// can hold GC references.
    pub validation: FuncToValidate<ValidatorResources>,
}

/// Everything known about a module before its functions are compiled.
pub struct ModuleInfo<'data> {
    /// The type section.
    pub types: Vec<SubType>,
    /// The kind of each of its types, by index (what converting a
    /// reference type needs).
    pub type_kinds: Vec<TypeKind>,
    /// The sizes of its recursive groups.
    pub rec_groups: Vec<u32>,
    /// The layout of each struct type's objects, by type index (`None`
    /// for the other kinds).
    pub struct_layouts: Vec<Option<StructLayout>>,
    pub functions: Vec<FuncDecl>,
    pub num_imported_funcs: u32,
    pub tables: Vec<TableSpec>,
    pub memories: Vec<MemoryDecl>,
    pub globals: Vec<GlobalSpec>,
    pub tags: Vec<TagSpec>,
    pub exports: Vec<Export>,
    pub start: Option<u32>,
    pub elements: Vec<ElemSegment>,
    pub data: Vec<DataDecl<'data>>,
    pub bodies: Vec<BodyToTranslate<'data>>,
    pub func_names: HashMap<u32, String>,
    pub module_name: Option<String>,
    /// Functions that can become `funcref` values (sorted).
    pub escaping: Vec<u32>,
    /// The heap reservation code is compiled for (set by the compiler).
    pub heap_reservation: u64,
    /// Whether a value of the module's types, globals or tables can be a
    /// GC object reference (functions may still declare such locals).
    pub holds_gc_refs: bool,
    /// For each defined function, whether it can be entered again before
    /// it returns (see `call_graph`): those check for interruption at
    /// entry.
    pub recurring: Vec<bool>,
}

/// Whether the module can come by GC object references other than through
/// a function's own locals: it declares struct or array types (whose
/// objects it can create), or a function type, global or table may hold
/// one.
fn holds_gc_refs(info: &ModuleInfo<'_>) -> bool {
    let in_types = info.types.iter().any(|t| match &t.composite {
        CompositeType::Func(f) => f
            .params
            .iter()
            .chain(&f.results)
            .any(|v| v.may_be_gc_object()),
        CompositeType::Struct(_) | CompositeType::Array(_) => true,
    });
    in_types
        || info.globals.iter().any(|g| g.ty.may_be_gc_object())
        || info
            .tables
            .iter()
            .any(|t| ValType::Ref(t.elem).may_be_gc_object())
}

impl ModuleInfo<'_> {
    /// The signature of type `index`, which validation checked is a
    /// function type.
    pub fn type_at(&self, index: u32) -> &FuncType {
        self.types[index as usize]
            .as_func()
            .expect("validated: a function type")
    }

    /// Type `index` of the type section.
    pub fn sub_type(&self, index: u32) -> &SubType {
        &self.types[index as usize]
    }

    /// The layout of struct type `index`'s objects.
    pub fn struct_layout(&self, index: u32) -> &StructLayout {
        self.struct_layouts[index as usize]
            .as_ref()
            .expect("validated: a struct type")
    }

    /// The fields of struct type `index`.
    pub fn struct_fields(&self, index: u32) -> &[FieldType] {
        self.sub_type(index)
            .as_struct()
            .expect("validated: a struct type")
    }

    /// The element of array type `index`.
    pub fn array_element(&self, index: u32) -> FieldType {
        self.sub_type(index)
            .as_array()
            .expect("validated: an array type")
    }

    /// How many supertypes are above type `index`.
    pub fn type_depth(&self, index: u32) -> u32 {
        let mut depth = 0;
        let mut t = self.sub_type(index);
        while let Some(s) = t.supertype {
            depth += 1;
            t = self.sub_type(s);
        }
        depth
    }

    /// The payload type of tag `index` (a function type without results).
    pub fn tag_type(&self, index: u32) -> &FuncType {
        self.type_at(self.tags[index as usize].type_index)
    }

    /// The signature of function `index`.
    pub fn func_type(&self, index: u32) -> &FuncType {
        self.type_at(self.functions[index as usize].type_index)
    }

    /// The first export name of function `index`.
    pub fn export_name(&self, index: u32) -> Option<&str> {
        self.exports
            .iter()
            .find(|e| e.kind == ExportKind::Func(index))
            .map(|e| e.name.as_str())
    }

    /// A name for messages: `func[N]`, with its export name or name-section
    /// name if it has one.
    pub fn display_name(&self, index: u32) -> String {
        // Names are the guest's: quoted and escaped.
        match self
            .export_name(index)
            .or_else(|| self.func_names.get(&index).map(String::as_str))
        {
            Some(n) => format!("func[{index}] {n:?}"),
            None => format!("func[{index}]"),
        }
    }
}

/// The kind of each type index, for converting references: a reference
/// type records the kind of the type it names.
type Kinds<'a> = &'a [TypeKind];

/// Our heap type for a validated wasmparser one.
pub fn heap_type(ht: wasmparser::HeapType, kinds: Kinds<'_>) -> Result<HeapType, Error> {
    use wasmparser::AbstractHeapType as A;
    match ht {
        wasmparser::HeapType::Abstract { shared: true, .. } => {
            Err(Error::Unsupported("shared references".into()))
        }
        wasmparser::HeapType::Abstract { ty, .. } => Ok(match ty {
            A::Func => HeapType::Func,
            A::Extern => HeapType::Extern,
            A::Exn => HeapType::Exn,
            A::NoFunc => HeapType::NoFunc,
            A::NoExtern => HeapType::NoExtern,
            A::NoExn => HeapType::NoExn,
            A::Any => HeapType::Any,
            A::Eq => HeapType::Eq,
            A::I31 => HeapType::I31,
            A::Struct => HeapType::Struct,
            A::Array => HeapType::Array,
            A::None => HeapType::None,
            other => return Err(Error::Unsupported(format!("the reference type {other:?}"))),
        }),
        wasmparser::HeapType::Concrete(index) => {
            let index = index.as_module_index().ok_or_else(group_relative)?;
            Ok(HeapType::Concrete {
                index,
                kind: kinds[index as usize],
            })
        }
        wasmparser::HeapType::Exact(_) => Err(Error::Unsupported("exact reference types".into())),
    }
}

/// The binary format names types by module index; an index relative to a
/// recursive group is the validator's internal form, never read from a file.
fn group_relative() -> Error {
    Error::Unsupported("a type index relative to its recursive group".into())
}

/// Our reference type for a validated wasmparser one.
pub fn ref_type(rt: wasmparser::RefType, kinds: Kinds<'_>) -> Result<RefType, Error> {
    Ok(RefType {
        nullable: rt.is_nullable(),
        heap: heap_type(rt.heap_type(), kinds)?,
    })
}

/// Our value type for a validated wasmparser one.
pub fn val_type(t: wasmparser::ValType, kinds: Kinds<'_>) -> Result<ValType, Error> {
    Ok(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(rt) => ValType::Ref(ref_type(rt, kinds)?),
    })
}

fn field_type(f: wasmparser::FieldType, kinds: Kinds<'_>) -> Result<FieldType, Error> {
    Ok(FieldType {
        storage: match f.element_type {
            wasmparser::StorageType::I8 => StorageType::I8,
            wasmparser::StorageType::I16 => StorageType::I16,
            wasmparser::StorageType::Val(t) => StorageType::Val(val_type(t, kinds)?),
        },
        mutable: f.mutable,
    })
}

fn composite_kind(c: &wasmparser::CompositeType) -> Result<TypeKind, Error> {
    if c.shared {
        return Err(Error::Unsupported("shared types".into()));
    }
    match &c.inner {
        wasmparser::CompositeInnerType::Func(_) => Ok(TypeKind::Func),
        wasmparser::CompositeInnerType::Struct(_) => Ok(TypeKind::Struct),
        wasmparser::CompositeInnerType::Array(_) => Ok(TypeKind::Array),
        wasmparser::CompositeInnerType::Cont(_) => {
            Err(Error::Unsupported("continuation types".into()))
        }
    }
}

/// The types of one recursive group of the type section; `kinds` holds the
/// kinds of the types before it, and gets the group's.
fn rec_group(
    group: wasmparser::RecGroup,
    kinds: &mut Vec<TypeKind>,
) -> Result<Vec<SubType>, Error> {
    let own: Vec<TypeKind> = group
        .types()
        .map(|sub| composite_kind(&sub.composite_type))
        .collect::<Result<_, _>>()?;
    kinds.extend(&own);
    let kinds: &[TypeKind] = kinds;
    let mut types = Vec::with_capacity(own.len());
    for sub in group.types() {
        let composite = match &sub.composite_type.inner {
            wasmparser::CompositeInnerType::Func(ty) => CompositeType::Func(FuncType {
                params: ty
                    .params()
                    .iter()
                    .map(|t| val_type(*t, kinds))
                    .collect::<Result<_, _>>()?,
                results: ty
                    .results()
                    .iter()
                    .map(|t| val_type(*t, kinds))
                    .collect::<Result<_, _>>()?,
            }),
            wasmparser::CompositeInnerType::Struct(st) => CompositeType::Struct(
                st.fields
                    .iter()
                    .map(|f| field_type(*f, kinds))
                    .collect::<Result<_, _>>()?,
            ),
            wasmparser::CompositeInnerType::Array(a) => {
                CompositeType::Array(field_type(a.0, kinds)?)
            }
            wasmparser::CompositeInnerType::Cont(_) => {
                return Err(Error::Unsupported("continuation types".into()))
            }
        };
        let supertype = match sub.supertype_idxs.as_slice() {
            [] => None,
            [s] => Some(s.as_module_index().ok_or_else(group_relative)?),
            _ => return Err(Error::Unsupported("more than one supertype".into())),
        };
        types.push(SubType {
            is_final: sub.is_final,
            supertype,
            composite,
        });
    }
    Ok(types)
}

/// Converts a constant expression (already validated).
fn const_expr(expr: &wasmparser::ConstExpr<'_>, kinds: Kinds<'_>) -> Result<ConstExpr, Error> {
    let mut ops = Vec::with_capacity(1);
    let mut reader = expr.get_operators_reader();
    loop {
        let offset = reader.original_position() as usize;
        let op = reader.read()?;
        ops.push(match op {
            Operator::End => break,
            Operator::I32Const { value } => ConstOp::I32Const(value),
            Operator::I64Const { value } => ConstOp::I64Const(value),
            Operator::F32Const { value } => ConstOp::F32Const(value.bits()),
            Operator::F64Const { value } => ConstOp::F64Const(value.bits()),
            Operator::V128Const { value } => ConstOp::V128Const(value.i128() as u128),
            Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            Operator::RefNull { hty } => ConstOp::RefNull(heap_type(hty, kinds)?),
            Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            Operator::I32Add => ConstOp::I32Add,
            Operator::I32Sub => ConstOp::I32Sub,
            Operator::I32Mul => ConstOp::I32Mul,
            Operator::I64Add => ConstOp::I64Add,
            Operator::I64Sub => ConstOp::I64Sub,
            Operator::I64Mul => ConstOp::I64Mul,
            Operator::RefI31 => ConstOp::RefI31,
            Operator::StructNew { struct_type_index } => ConstOp::StructNew(struct_type_index),
            Operator::StructNewDefault { struct_type_index } => {
                ConstOp::StructNewDefault(struct_type_index)
            }
            Operator::ArrayNew { array_type_index } => ConstOp::ArrayNew(array_type_index),
            Operator::ArrayNewDefault { array_type_index } => {
                ConstOp::ArrayNewDefault(array_type_index)
            }
            Operator::ArrayNewFixed {
                array_type_index,
                array_size,
            } => ConstOp::ArrayNewFixed(array_type_index, array_size),
            Operator::AnyConvertExtern => ConstOp::AnyConvertExtern,
            Operator::ExternConvertAny => ConstOp::ExternConvertAny,
            other => {
                return Err(Error::Invalid {
                    message: format!("unsupported instruction in constant expression: {other:?}"),
                    offset,
                })
            }
        });
    }
    Ok(ConstExpr(ops))
}

fn import_name(module: &str, name: &str) -> ImportName {
    ImportName {
        module: module.to_string(),
        name: name.to_string(),
    }
}

/// Parses and validates `wasm`, collecting function bodies for translation.
pub fn parse(wasm: &[u8], standard: Standard) -> Result<ModuleInfo<'_>, Error> {
    let mut validator = Validator::new_with_features(features(standard));
    let mut info = ModuleInfo {
        types: Vec::new(),
        type_kinds: Vec::new(),
        rec_groups: Vec::new(),
        struct_layouts: Vec::new(),
        functions: Vec::new(),
        num_imported_funcs: 0,
        tables: Vec::new(),
        memories: Vec::new(),
        globals: Vec::new(),
        tags: Vec::new(),
        exports: Vec::new(),
        start: None,
        elements: Vec::new(),
        data: Vec::new(),
        bodies: Vec::new(),
        func_names: HashMap::new(),
        module_name: None,
        escaping: Vec::new(),
        recurring: Vec::new(),
        heap_reservation: 0,
        holds_gc_refs: false,
    };
    let mut escaping = BTreeSet::new();
    let mut next_body = 0u32;
    let mut to_validate_bodies: Vec<FuncToValidate<ValidatorResources>> = Vec::new();

    // The parser must know the features too: it decides how immediates
    // such as memory indices are encoded.
    let mut parser = Parser::new(0);
    parser.set_features(features(standard));
    for payload in parser.parse_all(wasm) {
        match payload? {
            Payload::Version {
                num,
                encoding,
                range,
            } => {
                validator.version(num, encoding, &range)?;
            }
            Payload::TypeSection(reader) => {
                validator.type_section(&reader)?;
                for group in reader {
                    let types = rec_group(group?, &mut info.type_kinds)?;
                    // An empty group (`(rec)`) defines nothing.
                    if !types.is_empty() {
                        info.rec_groups.push(types.len() as u32);
                        info.struct_layouts
                            .extend(types.iter().map(|t| t.as_struct().map(StructLayout::new)));
                        info.types.extend(types);
                    }
                }
            }
            Payload::ImportSection(reader) => {
                validator.import_section(&reader)?;
                for import in reader.into_imports() {
                    let import = import?;
                    let name = import_name(import.module, import.name);
                    match import.ty {
                        TypeRef::Func(type_index) => {
                            info.functions.push(FuncDecl {
                                type_index,
                                import: Some(name),
                            });
                            info.num_imported_funcs += 1;
                        }
                        TypeRef::Table(t) => info.tables.push(TableSpec {
                            elem: ref_type(t.element_type, &info.type_kinds)?,
                            min: t.initial,
                            max: t.maximum,
                            table64: t.table64,
                            init: None,
                            import: Some(name),
                        }),
                        TypeRef::Memory(m) => info.memories.push(MemoryDecl {
                            initial_pages: m.initial,
                            max_pages: m.maximum,
                            import: Some(name),
                            memory64: m.memory64,
                        }),
                        TypeRef::Global(g) => info.globals.push(GlobalSpec {
                            ty: val_type(g.content_type, &info.type_kinds)?,
                            mutable: g.mutable,
                            init: None,
                            import: Some(name),
                        }),
                        TypeRef::Tag(t) => info.tags.push(TagSpec {
                            type_index: t.func_type_idx,
                            import: Some(name),
                        }),
                        TypeRef::FuncExact(_) => {
                            return Err(Error::Unsupported("exact function imports".into()))
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                validator.function_section(&reader)?;
                for type_index in reader {
                    info.functions.push(FuncDecl {
                        type_index: type_index?,
                        import: None,
                    });
                }
            }
            Payload::TableSection(reader) => {
                validator.table_section(&reader)?;
                for table in reader {
                    let table = table?;
                    let t = table.ty;
                    let init = match table.init {
                        wasmparser::TableInit::RefNull => None,
                        wasmparser::TableInit::Expr(e) => Some(const_expr(&e, &info.type_kinds)?),
                    };
                    if let Some(init) = &init {
                        escaping.extend(init.0.iter().filter_map(|op| match op {
                            ConstOp::RefFunc(f) => Some(*f),
                            _ => None,
                        }));
                    }
                    info.tables.push(TableSpec {
                        elem: ref_type(t.element_type, &info.type_kinds)?,
                        min: t.initial,
                        max: t.maximum,
                        table64: t.table64,
                        init,
                        import: None,
                    });
                }
            }
            Payload::MemorySection(reader) => {
                validator.memory_section(&reader)?;
                for mem in reader {
                    let m = mem?;
                    info.memories.push(MemoryDecl {
                        initial_pages: m.initial,
                        max_pages: m.maximum,
                        import: None,
                        memory64: m.memory64,
                    });
                }
            }
            Payload::TagSection(reader) => {
                validator.tag_section(&reader)?;
                for tag in reader {
                    info.tags.push(TagSpec {
                        type_index: tag?.func_type_idx,
                        import: None,
                    });
                }
            }
            Payload::GlobalSection(reader) => {
                validator.global_section(&reader)?;
                for global in reader {
                    let g = global?;
                    let init = const_expr(&g.init_expr, &info.type_kinds)?;
                    for op in &init.0 {
                        if let ConstOp::RefFunc(f) = op {
                            escaping.insert(*f);
                        }
                    }
                    info.globals.push(GlobalSpec {
                        ty: val_type(g.ty.content_type, &info.type_kinds)?,
                        mutable: g.ty.mutable,
                        init: Some(init),
                        import: None,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                validator.export_section(&reader)?;
                for export in reader {
                    let e = export?;
                    let kind = match e.kind {
                        ExternalKind::Func => {
                            escaping.insert(e.index);
                            ExportKind::Func(e.index)
                        }
                        ExternalKind::Table => ExportKind::Table(e.index),
                        ExternalKind::Memory => ExportKind::Memory(e.index),
                        ExternalKind::Global => ExportKind::Global(e.index),
                        ExternalKind::Tag => ExportKind::Tag(e.index),
                        ExternalKind::FuncExact => {
                            return Err(Error::Unsupported("exact function exports".into()))
                        }
                    };
                    info.exports.push(Export {
                        name: e.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::StartSection { func, range } => {
                validator.start_section(func, &range)?;
                info.start = Some(func);
            }
            Payload::ElementSection(reader) => {
                validator.element_section(&reader)?;
                for element in reader {
                    let element = element?;
                    let (ty, items) = match element.items {
                        ElementItems::Functions(funcs) => {
                            let funcs = funcs.into_iter().collect::<Result<Vec<u32>, _>>()?;
                            escaping.extend(funcs.iter().copied());
                            (RefType::FUNCREF, ElemItems::Functions(funcs))
                        }
                        ElementItems::Expressions(rt, exprs) => {
                            let mut items = Vec::new();
                            for e in exprs {
                                let e = const_expr(&e?, &info.type_kinds)?;
                                for op in &e.0 {
                                    if let ConstOp::RefFunc(f) = op {
                                        escaping.insert(*f);
                                    }
                                }
                                items.push(e);
                            }
                            (ref_type(rt, &info.type_kinds)?, ElemItems::Exprs(items))
                        }
                    };
                    let kind = match element.kind {
                        ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => ElemSegmentKind::Active {
                            table: table_index.unwrap_or(0),
                            offset: const_expr(&offset_expr, &info.type_kinds)?,
                        },
                        ElementKind::Passive => ElemSegmentKind::Passive,
                        ElementKind::Declared => ElemSegmentKind::Declared,
                    };
                    info.elements.push(ElemSegment { kind, ty, items });
                }
            }
            Payload::DataCountSection { count, range } => {
                validator.data_count_section(count, &range)?;
            }
            Payload::DataSection(reader) => {
                validator.data_section(&reader)?;
                for data in reader {
                    let data = data?;
                    let (memory, active_offset) = match data.kind {
                        DataKind::Passive => (0, None),
                        DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => (
                            memory_index,
                            Some(const_expr(&offset_expr, &info.type_kinds)?),
                        ),
                    };
                    info.data.push(DataDecl {
                        memory,
                        active_offset,
                        bytes: data.data,
                    });
                }
            }
            Payload::CodeSectionStart {
                count,
                unchecked_range: range,
                ..
            } => {
                validator.code_section_start(&range)?;
                info.bodies.reserve(count as usize);
            }
            Payload::CodeSectionEntry(body) => {
                let to_validate = validator.code_section_entry(&body)?;
                let func_index = info.num_imported_funcs + next_body;
                next_body += 1;
                let validation = FuncToValidate {
                    resources: to_validate.resources.clone(),
                    index: to_validate.index,
                    ty: to_validate.ty,
                    features: to_validate.features,
                };
                to_validate_bodies.push(to_validate);
                info.bodies.push(BodyToTranslate {
                    func_index,
                    body,
                    validation,
                });
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Name(names) = section.as_known() {
                    // The name section is advisory: a malformed one is ignored,
                    // as the specification asks.
                    read_names(names, &mut info);
                }
            }
            Payload::End(offset) => {
                validator.end(offset)?;
            }
            other => {
                // Component-model and other unknown payloads: let the validator
                // name the problem.
                validator.payload(&other)?;
                return Err(Error::Unsupported(format!(
                    "unexpected section in a core module: {other:?}"
                )));
            }
        }
    }
    let callees = validate_bodies(to_validate_bodies, &info.bodies)?;
    info.escaping = escaping.into_iter().collect();
    info.recurring =
        crate::call_graph::recurring_functions(info.num_imported_funcs, &callees, &info.escaping);
    info.holds_gc_refs = holds_gc_refs(&info);
    Ok(info)
}

/// Validates every function body, in parallel; the first error (in body
/// order) is the module's. Returns what each body calls directly.
fn validate_bodies(
    funcs: Vec<FuncToValidate<ValidatorResources>>,
    bodies: &[BodyToTranslate<'_>],
) -> Result<Vec<Vec<u32>>, Error> {
    let results: Vec<wasmparser::Result<Vec<u32>>> = funcs
        .into_par_iter()
        .zip(bodies.par_iter())
        .map_init(FuncValidatorAllocations::default, |allocs, (func, body)| {
            let mut validator = func.into_validator(std::mem::take(allocs));
            let result = validator.validate(&body.body);
            *allocs = validator.into_allocations();
            result.and_then(|()| direct_callees(&body.body))
        })
        .collect();
    Ok(results.into_iter().collect::<Result<_, _>>()?)
}

/// The functions a (valid) body calls by index, each once.
fn direct_callees(body: &wasmparser::FunctionBody<'_>) -> wasmparser::Result<Vec<u32>> {
    let mut callees = Vec::new();
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        match ops.read()? {
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                callees.push(function_index)
            }
            _ => {}
        }
    }
    callees.sort_unstable();
    callees.dedup();
    Ok(callees)
}

fn read_names(names: wasmparser::NameSectionReader<'_>, info: &mut ModuleInfo<'_>) {
    for name in names {
        let Ok(name) = name else { return };
        match name {
            Name::Module { name, .. } => info.module_name = Some(name.to_string()),
            Name::Function(map) => {
                for naming in map {
                    let Ok(naming) = naming else { return };
                    info.func_names
                        .insert(naming.index, naming.name.to_string());
                }
            }
            _ => {}
        }
    }
}
