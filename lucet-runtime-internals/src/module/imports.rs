//! Resolving a module's imports at load, against the host's definitions
//! in a [`Linker`], with the specification's type checks; and the checks
//! that binding at instantiation (`instance/bind.rs`) shares with it.
//!
//! A host defines functions and globals only; memories, tables and tags
//! come from other instances' exports, which a module names with
//! `Linker::instance_module` and gets bound when each instance is built.

use std::sync::Arc;

use lucet_module::{GlobalSpec, ImportName, ModuleData};

use crate::linker::{Definition, HostFunc};
use crate::type_registry::{canonical_val, id_subtype, intern_func, val_subtype};
use crate::{Error, Linker, Val};

/// A module's imports, all defined by the host, resolved at load: what
/// each instance's imported functions call and its imported globals start
/// as.
pub(crate) struct HostImports {
    pub funcs: Vec<Arc<HostFunc>>,
    pub globals: Vec<Val>,
}

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
    // A component host's functions are asked for when imports are resolved.
    let component_host = data.component.is_some() && linker.get_component_host().is_some();
    for (import, is_func) in names {
        if linker.is_instance_module(&import.module) {
            from_instances = true;
        } else if linker.get(&import.module, &import.name).is_none()
            && !(is_func && (linker.defaults_unknown_imports() || component_host))
        {
            return Err(Error::UnknownImport(import.to_string()));
        }
    }
    Ok(from_instances)
}

/// The error for an import provided as something else.
pub(crate) fn mismatch(import: &ImportName, expected: String, provided: String) -> Error {
    Error::ImportTypeMismatch {
        import: import.to_string(),
        expected,
        provided,
    }
}

/// What a host definition is, for errors.
pub(crate) fn describe_definition(def: &Definition) -> String {
    match def {
        Definition::Func(_) => "a host function".into(),
        Definition::Global(_) => "a host global".into(),
    }
}

/// A global type as the text format writes it.
pub(crate) fn global_type(ty: lucet_module::ValType, mutable: bool) -> String {
    if mutable {
        format!("(mut {ty})")
    } else {
        ty.to_string()
    }
}

/// Limits as the text format writes them.
pub(crate) fn limits(min: u64, max: Option<u64>) -> String {
    match max {
        Some(max) => format!("{min}..{max}"),
        None => format!("{min}.."),
    }
}

/// Checks a host function for function import `import` of type
/// `type_index` (canonical ids `type_ids`): its type must be a subtype.
pub(crate) fn check_host_func(
    data: &ModuleData,
    type_ids: &[u32],
    type_index: u32,
    import: &ImportName,
    host: &HostFunc,
) -> Result<(), Error> {
    let expected = data
        .signature(type_index)
        .expect("loading checked that functions have function types");
    if id_subtype(intern_func(host.ty()), type_ids[type_index as usize]) {
        Ok(())
    } else {
        Err(mismatch(
            import,
            expected.to_string(),
            host.ty().to_string(),
        ))
    }
}

/// Checks a global of canonical type `provided` (shown as `shown`) for the
/// global import `g`: a mutable global must have the declared type
/// exactly, an immutable one may have a subtype.
pub(crate) fn check_global(
    g: &GlobalSpec,
    type_ids: &[u32],
    import: &ImportName,
    provided: lucet_module::ValType,
    shown: lucet_module::ValType,
    mutable: bool,
) -> Result<(), Error> {
    let declared = canonical_val(g.ty, type_ids);
    let fits = mutable == g.mutable
        && if mutable {
            provided == declared
        } else {
            val_subtype(provided, declared)
        };
    if fits {
        Ok(())
    } else {
        Err(mismatch(
            import,
            global_type(g.ty, g.mutable),
            global_type(shown, mutable),
        ))
    }
}

/// Resolves every import of `data` (whose types have the ids `type_ids`)
/// against the host's definitions in `linker`, and, for a module compiled
/// from a component (whose interface is `component`), its component host;
/// with `Linker::default_unknown_imports`, a function import nothing
/// defines returns zeros.
pub(crate) fn resolve_host(
    data: &ModuleData,
    component: Option<&Arc<lucet_component::ComponentAbi>>,
    type_ids: &[u32],
    linker: &Linker,
) -> Result<HostImports, Error> {
    let def = |import: &ImportName| linker.get(&import.module, &import.name);
    let mut funcs = Vec::with_capacity(data.function_imports.len());
    for (f, import) in data.functions.iter().zip(&data.function_imports) {
        let from_component_host = || {
            let abi = component?;
            let ty = data.signature(f.type_index)?;
            linker.get_component_host()?.bind(abi, import, ty)
        };
        let resolved = match def(import) {
            Some(Definition::Func(host)) => {
                check_host_func(data, type_ids, f.type_index, import, host)?;
                host.clone()
            }

            Some(other) => {
                let expected = data
                    .signature(f.type_index)
                    .expect("loading checked that functions have function types");
                return Err(mismatch(
                    import,
                    format!("function {expected}"),
                    describe_definition(other),
                ));
            }
            None => match from_component_host() {
                Some(host) => {
                    check_host_func(data, type_ids, f.type_index, import, &host)?;
                    host
                }
                None if linker.defaults_unknown_imports() => Linker::zero_func(
                    data.signature(f.type_index)
                        .expect("loading checked that functions have function types"),
                ),
                None => return Err(Error::UnknownImport(import.to_string())),
            },
        };
        funcs.push(resolved);
    }
    let mut globals = Vec::new();
    for g in &data.globals {
        let Some(import) = &g.import else { continue };
        match def(import) {
            Some(Definition::Global(host)) => {
                let ty = host.value.ty();
                check_global(g, type_ids, import, ty, ty, host.mutable)?;
                globals.push(host.value.clone());
            }
            Some(other) => {
                return Err(mismatch(
                    import,
                    format!("global {}", global_type(g.ty, g.mutable)),
                    describe_definition(other),
                ))
            }
            None => return Err(Error::UnknownImport(import.to_string())),
        }
    }
    // The host defines no memories, tables or tags.
    let others = data
        .memories
        .iter()
        .map(|m| (m.import.as_ref(), "memory"))
        .chain(data.tables.iter().map(|t| (t.import.as_ref(), "table")))
        .chain(data.tags.iter().map(|t| (t.import.as_ref(), "tag")));
    for (import, kind) in others {
        let Some(import) = import else { continue };
        return Err(match def(import) {
            Some(other) => mismatch(import, format!("a {kind}"), describe_definition(other)),
            None => Error::UnknownImport(import.to_string()),
        });
    }
    Ok(HostImports { funcs, globals })
}
