//! Resolving a module's imports, with the specification's type and limits
//! checks: against a [`Linker`] once per module load when the host defines
//! everything, or at instantiation when some imports come from other
//! instances (`Linker::instance_module`, `InstanceBuilder::link`).

use std::sync::{Arc, Weak};

use lucet_module::{ExportKind, ImportName, ModuleData, ValRaw};

use crate::instance::{Instance, LinkGroup};
use crate::linker::{Definition, HostFunc};
use crate::type_registry::{canonical_ref, canonical_val, id_subtype, intern_func, val_subtype};
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

/// Every import of `data`, each with whether it is a function's.
pub(crate) fn import_names(data: &ModuleData) -> impl Iterator<Item = (&ImportName, bool)> {
    fn other(i: Option<&ImportName>) -> Option<(&ImportName, bool)> {
        i.map(|i| (i, false))
    }
    data.function_imports
        .iter()
        .map(|i| (i, true))
        .chain(data.globals.iter().filter_map(|g| other(g.import.as_ref())))
        .chain(
            data.memories
                .iter()
                .filter_map(|m| other(m.import.as_ref())),
        )
        .chain(data.tables.iter().filter_map(|t| other(t.import.as_ref())))
        .chain(data.tags.iter().filter_map(|t| other(t.import.as_ref())))
}

/// Whether `data` imports from instances (modules `linker` names with
/// `instance_module`); an error for an import nothing will define.
pub(crate) fn imports_instances(data: &ModuleData, linker: &Linker) -> Result<bool, Error> {
    let mut from_instances = false;
    let names = import_names(data);
    for (import, is_func) in names {
        if linker.is_instance_module(&import.module) {
            from_instances = true;
        } else if linker.get(&import.module, &import.name).is_none()
            && !(is_func && linker.defaults_unknown_imports())
        {
            return Err(Error::UnknownImport(import.to_string()));
        }
    }
    Ok(from_instances)
}

/// A lookup in the host's definitions only.
pub(crate) fn host_lookup(linker: &Linker) -> impl Fn(&ImportName) -> Option<Binding> + '_ {
    |import| {
        linker
            .get(&import.module, &import.name)
            .cloned()
            .map(Binding::Host)
    }
}

fn mismatch(import: &ImportName, expected: String, provided: String) -> Error {
    Error::ImportTypeMismatch {
        import: import.to_string(),
        expected,
        provided,
    }
}

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
        Binding::Host(Definition::Func(_)) => "a host function".into(),
        Binding::Host(Definition::Global(_)) => "a host global".into(),
        Binding::Export(e) => describe_export(e),
    }
}

fn global_type(ty: lucet_module::ValType, mutable: bool) -> String {
    if mutable {
        format!("(mut {ty})")
    } else {
        ty.to_string()
    }
}

fn limits(min: u64, max: Option<u64>) -> String {
    match max {
        Some(max) => format!("{min}..{max}"),
        None => format!("{min}.."),
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

/// Resolves every import of `data` (whose types have the ids `type_ids`)
/// through `lookup`; with `default_unknown_imports`, a function import
/// nothing defines returns zeros.
pub(crate) fn resolve(
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
                if !id_subtype(intern_func(host.ty()), expected_id) {
                    return Err(mismatch(
                        import,
                        expected.to_string(),
                        host.ty().to_string(),
                    ));
                }
                ResolvedFunc::Host(host)
            }
            Some(Binding::Export(e)) if matches!(e.kind, ExportKind::Func(_)) => {
                let ExportKind::Func(index) = e.kind else {
                    unreachable!()
                };
                let inst = r.exporter(&e)?;
                // SAFETY: the exporter lives (its group does) and runs on this
                // thread, which is not running it now.
                let (code, vmctx, ty, id, native) = unsafe { (*inst).func_entry(index) }
                    .ok_or_else(|| Error::UnknownImport(import.to_string()))?;
                // The export's type may be a declared subtype.
                if !id_subtype(id, expected_id) {
                    return Err(mismatch(import, expected.to_string(), ty.to_string()));
                }
                ResolvedFunc::Export {
                    code,
                    vmctx,
                    native,
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
        let declared = canonical_val(g.ty, type_ids);
        // A mutable global must have the declared type exactly; an immutable
        // one may have a subtype.
        let fits = |ty, mutable| {
            mutable == g.mutable
                && if mutable {
                    ty == declared
                } else {
                    val_subtype(ty, declared)
                }
        };
        let resolved = match r.def(import) {
            Some(Binding::Host(Definition::Global(host))) => {
                if !fits(host.value.ty(), host.mutable) {
                    return Err(mismatch(
                        import,
                        expected,
                        global_type(host.value.ty(), host.mutable),
                    ));
                }
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
                if !fits(canonical, mutable) {
                    return Err(mismatch(import, expected, global_type(ty, mutable)));
                }
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
