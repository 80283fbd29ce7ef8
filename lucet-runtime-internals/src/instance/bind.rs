//! Binding a module's imports at instantiation, when some come from other
//! instances (`Linker::instance_module`, `InstanceBuilder::link`): each to
//! an exporter's function, global, memory, table or tag, or to the host's
//! definition, with the specification's type and limits checks (those for
//! host definitions shared with loading, `module/imports.rs`).

use std::ptr;
use std::sync::{Arc, Weak};

use lucet_module::{ExportKind, FuncImport, ImportName, ModuleData, TypeRecord, ValRaw};

use super::{Instance, LinkGroup};
use crate::linker::{Definition, HostFunc};
use crate::module::{
    check_global, check_host_func, describe_definition, global_type, limits, mismatch, HostImports,
};
use crate::type_registry::{canonical_ref, canonical_val, id_subtype};
use crate::{Error, Linker, Val};

/// An imported function.
pub(crate) enum ResolvedFunc {
    /// A host function.
    Host(Arc<HostFunc>),
    /// Another instance's export: its array-call entry, vmctx and native
    /// entry.
    Export {
        code: usize,
        vmctx: *mut u8,
        native: usize,
        /// The exporter's type for it (a funcref to it carries this one).
        ty: &'static TypeRecord,
    },
}

/// An imported global.
pub(crate) enum ResolvedGlobal {
    /// A host global: each instance gets a copy of this value.
    Value(Val),
    /// Another instance's global, shared: its storage.
    Shared(*mut ValRaw),
}

/// An imported memory: the instance that defines it, and its index there.
pub(crate) struct ResolvedMemory {
    pub owner: *mut Instance,
    pub index: u32,
}

/// An imported tag: its identity.
pub(crate) struct ResolvedTag {
    pub identity: u64,
}

/// An imported table: the instance that owns it, and its index among that
/// instance's defined tables.
pub(crate) struct ResolvedTable {
    pub owner: *mut Instance,
    pub index: usize,
}

/// Everything a module imports, resolved.
pub(crate) struct Imports {
    pub funcs: Vec<ResolvedFunc>,
    pub globals: Vec<ResolvedGlobal>,
    pub memories: Vec<ResolvedMemory>,
    pub tables: Vec<ResolvedTable>,
    pub tags: Vec<ResolvedTag>,
    /// The link group the imported instance exports belong to, if any.
    pub group: Option<Weak<LinkGroup>>,
}

/// An export of a live instance, bound to an import at instantiation.
#[derive(Clone)]
pub(crate) struct InstanceExport {
    /// The exporter's link group (it lives as long as the group).
    pub group: Weak<LinkGroup>,
    /// The exporter.
    pub instance: *mut Instance,
    /// What is exported.
    pub kind: ExportKind,
}

/// What an import resolves to.
#[derive(Clone)]
pub(crate) enum Binding {
    /// Something the host defines.
    Host(Definition),
    /// Another instance's export.
    Export(InstanceExport),
}

/// Finds what an import resolves to.
pub(crate) type Lookup<'a> = &'a dyn Fn(&ImportName) -> Option<Binding>;

fn describe_export(e: &InstanceExport) -> String {
    match e.kind {
        ExportKind::Func(_) => "a function",
        ExportKind::Table(_) => "a table",
        ExportKind::Memory(_) => "a memory",
        ExportKind::Global(_) => "a global",
        ExportKind::Tag(_) => "a tag",
    }
    .to_string()
}

fn describe_def(def: &Binding) -> String {
    match def {
        Binding::Host(def) => describe_definition(def),
        Binding::Export(e) => describe_export(e),
    }
}

struct Resolver<'a> {
    lookup: Lookup<'a>,
    group: Option<Weak<LinkGroup>>,
}

impl Resolver<'_> {
    /// The exporting instance of `e`, after checking that its group is
    /// alive, on this thread, and the same as the other imports'.
    fn exporter(&mut self, e: &InstanceExport) -> Result<*mut Instance, Error> {
        let group = e.group.upgrade().ok_or(Error::InvalidState(
            "an instance this module imports from has been dropped",
        ))?;
        group.check_thread()?;
        match &self.group {
            None => self.group = Some(e.group.clone()),
            Some(g) if Weak::ptr_eq(g, &e.group) => {}
            Some(_) => {
                return Err(Error::InvalidState(
                    "a module can import from the instances of one thread only",
                ))
            }
        }
        Ok(e.instance)
    }

    fn def(&self, import: &ImportName) -> Option<Binding> {
        (self.lookup)(import)
    }
}

/// Binds every import of `data` (whose types have the ids `type_ids`)
/// through `lookup`; with `default_unknown_imports`, a function import
/// nothing defines returns zeros.
pub(crate) fn bind(
    data: &ModuleData,
    type_ids: &[u32],
    lookup: Lookup<'_>,
    default_unknown_imports: bool,
) -> Result<Imports, Error> {
    let mut r = Resolver {
        lookup,
        group: None,
    };
    let mut funcs = Vec::with_capacity(data.function_imports.len());
    for (f, import) in data.functions.iter().zip(&data.function_imports) {
        let expected = data
            .signature(f.type_index)
            .expect("loading checked that functions have function types");
        let expected_id = type_ids[f.type_index as usize];
        let resolved = match r.def(import) {
            Some(Binding::Host(Definition::Func(host))) => {
                check_host_func(data, type_ids, f.type_index, import, &host)?;
                ResolvedFunc::Host(host)
            }
            Some(Binding::Export(e)) if matches!(e.kind, ExportKind::Func(_)) => {
                let ExportKind::Func(index) = e.kind else {
                    unreachable!()
                };
                let inst = r.exporter(&e)?;
                // SAFETY: the exporter lives (its group does) and runs on this
                // thread, which is not running it now.
                let e = unsafe { (*inst).func_entry(index) }
                    .ok_or_else(|| Error::UnknownImport(import.to_string()))?;
                // The export's type may be a declared subtype.
                if !id_subtype(e.id, expected_id) {
                    return Err(mismatch(import, expected.to_string(), e.ty.to_string()));
                }
                ResolvedFunc::Export {
                    code: e.code,
                    vmctx: e.vmctx,
                    native: e.native,
                    ty: e.record,
                }
            }
            Some(other) => {
                return Err(mismatch(
                    import,
                    format!("function {expected}"),
                    describe_def(&other),
                ))
            }
            None if default_unknown_imports => ResolvedFunc::Host(Linker::zero_func(expected)),
            None => return Err(Error::UnknownImport(import.to_string())),
        };
        funcs.push(resolved);
    }

    let mut globals = Vec::new();
    for g in &data.globals {
        let Some(import) = &g.import else { continue };
        let expected = global_type(g.ty, g.mutable);
        let resolved = match r.def(import) {
            Some(Binding::Host(Definition::Global(host))) => {
                let ty = host.value.ty();
                check_global(g, type_ids, import, ty, ty, host.mutable)?;
                ResolvedGlobal::Value(host.value)
            }
            Some(Binding::Export(e)) if matches!(e.kind, ExportKind::Global(_)) => {
                let ExportKind::Global(index) = e.kind else {
                    unreachable!()
                };
                let inst = r.exporter(&e)?;
                // SAFETY: as for functions.
                let (ty, mutable, storage) = unsafe { (*inst).global_export(index) };
                // SAFETY: as for functions.
                let canonical = canonical_val(ty, unsafe { (*inst).module().type_ids() });
                check_global(g, type_ids, import, canonical, ty, mutable)?;
                ResolvedGlobal::Shared(storage)
            }
            Some(other) => {
                return Err(mismatch(
                    import,
                    format!("global {expected}"),
                    describe_def(&other),
                ))
            }
            None => return Err(Error::UnknownImport(import.to_string())),
        };
        globals.push(resolved);
    }

    let mut memories = Vec::new();
    for m in &data.memories {
        let Some(import) = &m.import else { continue };
        let address = if m.memory64 { "i64 " } else { "" };
        let expected = format!(
            "memory {address}{}",
            limits(m.heap.initial_pages, m.heap.max_pages)
        );
        let e = match r.def(import) {
            Some(Binding::Export(e)) if matches!(e.kind, ExportKind::Memory(_)) => e,
            Some(other) => return Err(mismatch(import, expected, describe_def(&other))),
            None => return Err(Error::UnknownImport(import.to_string())),
        };
        let ExportKind::Memory(index) = e.kind else {
            unreachable!()
        };
        let inst = r.exporter(&e)?;
        // SAFETY: as for functions.
        let export = unsafe { Instance::memory_export(inst, index) };
        let fits = export.memory64 == m.memory64
            && export.pages >= m.heap.initial_pages
            && match m.heap.max_pages {
                None => true,
                Some(import_max) => export.heap.max_pages.is_some_and(|max| max <= import_max),
            };
        if !fits {
            let address = if export.memory64 { "i64 " } else { "" };
            return Err(mismatch(
                import,
                expected,
                format!(
                    "memory {address}{}",
                    limits(export.pages, export.heap.max_pages)
                ),
            ));
        }
        // The importer's code elides bounds checks assuming its own heap
        // layout; the exported memory must offer at least as much.
        let heap = export.heap;
        if heap.reserved_size < m.heap.reserved_size
            || heap.reserved_size + heap.guard_size < m.heap.reserved_size + m.heap.guard_size
        {
            return Err(mismatch(
                import,
                format!(
                    "a heap reservation of {} bytes + {} guard",
                    m.heap.reserved_size, m.heap.guard_size
                ),
                format!("{} bytes + {} guard", heap.reserved_size, heap.guard_size),
            ));
        }
        memories.push(ResolvedMemory {
            owner: export.owner,
            index: export.index,
        });
    }

    let mut tables = Vec::new();
    for t in &data.tables {
        let Some(import) = &t.import else { continue };
        let address = |table64| if table64 { "i64 " } else { "" };
        let expected = format!(
            "table {}{} {}",
            address(t.table64),
            limits(t.min, t.max),
            t.elem
        );
        let e = match r.def(import) {
            Some(Binding::Export(e)) if matches!(e.kind, ExportKind::Table(_)) => e,
            Some(other) => return Err(mismatch(import, expected, describe_def(&other))),
            None => return Err(Error::UnknownImport(import.to_string())),
        };
        let ExportKind::Table(index) = e.kind else {
            unreachable!()
        };
        let inst = r.exporter(&e)?;
        // SAFETY: as for functions.
        let (owner, owner_index, ty, len, max, table64) =
            unsafe { Instance::table_export(inst, index) };
        let fits = ty == canonical_ref(t.elem, type_ids)
            && table64 == t.table64
            && u64::from(len) >= t.min
            && match t.max {
                None => true,
                Some(import_max) => max.is_some_and(|max| max <= import_max),
            };
        if !fits {
            return Err(mismatch(
                import,
                expected,
                format!(
                    "table {}{} {ty}",
                    address(table64),
                    limits(u64::from(len), max)
                ),
            ));
        }
        tables.push(ResolvedTable {
            owner,
            index: owner_index,
        });
    }
    let mut tags = Vec::new();
    for t in &data.tags {
        let Some(import) = &t.import else { continue };
        let expected_id = type_ids[t.type_index as usize];
        let expected = format!(
            "tag {}",
            data.signature(t.type_index)
                .expect("loading checked that tags have function types")
        );
        let e = match r.def(import) {
            Some(Binding::Export(e)) if matches!(e.kind, ExportKind::Tag(_)) => e,
            Some(other) => return Err(mismatch(import, expected, describe_def(&other))),
            None => return Err(Error::UnknownImport(import.to_string())),
        };
        let ExportKind::Tag(index) = e.kind else {
            unreachable!()
        };
        let inst = r.exporter(&e)?;
        // SAFETY: as for functions.
        let (identity, ty, id) = unsafe { (*inst).tag_export(index) };
        if id != expected_id {
            return Err(mismatch(import, expected, format!("tag {ty}")));
        }
        tags.push(ResolvedTag { identity });
    }
    Ok(Imports {
        funcs,
        globals,
        memories,
        tables,
        tags,
        group: r.group,
    })
}

/// An instance's imports: its module's, resolved at load when the host
/// defines them all, or its own, bound at instantiation.
#[derive(Clone, Copy)]
pub(crate) enum InstanceImports<'a> {
    Host(&'a HostImports),
    Bound(&'a Imports),
}

/// Where an imported global's value is.
pub(crate) enum ImportedGlobal<'a> {
    /// A host global: each instance gets a copy of this value.
    Value(&'a Val),
    /// Another instance's global, shared: its storage.
    Shared(*mut ValRaw),
}

impl<'a> InstanceImports<'a> {
    /// Appends the call records of the imported functions, for an instance
    /// whose vmctx is `vmctx`.
    /// The exporter's type of each imported function (`None` for a host
    /// function).
    pub(crate) fn push_func_import_types(self, out: &mut Vec<Option<&'static TypeRecord>>) {
        match self {
            InstanceImports::Host(h) => out.extend(h.funcs.iter().map(|_| None)),
            InstanceImports::Bound(b) => out.extend(b.funcs.iter().map(|f| match f {
                ResolvedFunc::Host(_) => None,
                ResolvedFunc::Export { ty, .. } => Some(*ty),
            })),
        }
    }

    pub(crate) fn push_func_imports(self, vmctx: *mut u8, out: &mut Vec<FuncImport>) {
        let host = |host: &HostFunc| {
            let (code, data) = host.entry();
            FuncImport {
                code: code as *const u8,
                vmctx,
                data,
                native_code: ptr::null(),
                native_vmctx: ptr::null_mut(),
            }
        };
        match self {
            InstanceImports::Host(h) => out.extend(h.funcs.iter().map(|f| host(f))),
            InstanceImports::Bound(b) => out.extend(b.funcs.iter().map(|f| match f {
                ResolvedFunc::Host(f) => host(f),
                ResolvedFunc::Export {
                    code,
                    vmctx: exporter,
                    native,
                    ..
                } => FuncImport {
                    code: *code as *const u8,
                    vmctx: *exporter,
                    data: ptr::null(),
                    native_code: *native as *const u8,
                    native_vmctx: *exporter,
                },
            })),
        }
    }

    /// The `i`th imported global.
    pub(crate) fn global(self, i: usize) -> ImportedGlobal<'a> {
        match self {
            InstanceImports::Host(h) => ImportedGlobal::Value(&h.globals[i]),
            InstanceImports::Bound(b) => match &b.globals[i] {
                ResolvedGlobal::Value(v) => ImportedGlobal::Value(v),
                ResolvedGlobal::Shared(storage) => ImportedGlobal::Shared(*storage),
            },
        }
    }

    /// The imported memories (none from the host).
    pub(crate) fn memories(self) -> &'a [ResolvedMemory] {
        match self {
            InstanceImports::Host(_) => &[],
            InstanceImports::Bound(b) => &b.memories,
        }
    }

    /// The imported tables (none from the host).
    pub(crate) fn tables(self) -> &'a [ResolvedTable] {
        match self {
            InstanceImports::Host(_) => &[],
            InstanceImports::Bound(b) => &b.tables,
        }
    }

    /// The imported tags (none from the host).
    pub(crate) fn tags(self) -> &'a [ResolvedTag] {
        match self {
            InstanceImports::Host(_) => &[],
            InstanceImports::Bound(b) => &b.tags,
        }
    }
}
