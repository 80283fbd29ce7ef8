//! `wasi:filesystem`, as far as it goes yet: no directory is preopened, so
//! no descriptor exists. Components that import it (the preview1 adapter
//! inside `componentize-js` output does, whatever the app uses) load, find
//! no directories, and any descriptor they name is an error.

use lucet_runtime::component::Val;

use super::host::{HostError, Interfaces};
use super::io::with_ctx;
use super::values::none;

/// The descriptor methods of `wasi:filesystem/types`.
const DESCRIPTOR_METHODS: &[&str] = &[
    "read-via-stream",
    "write-via-stream",
    "append-via-stream",
    "advise",
    "sync-data",
    "get-flags",
    "get-type",
    "set-size",
    "set-times",
    "read",
    "write",
    "read-directory",
    "sync",
    "create-directory-at",
    "stat",
    "stat-at",
    "set-times-at",
    "link-at",
    "open-at",
    "readlink-at",
    "remove-directory-at",
    "rename-at",
    "symlink-at",
    "unlink-file-at",
    "is-same-object",
    "metadata-hash",
    "metadata-hash-at",
];

/// Adds `wasi:filesystem/preopens` (no directory) and the functions of
/// `wasi:filesystem/types`, which name descriptors no instance can have.
pub fn add(interfaces: &mut Interfaces) {
    interfaces.func("wasi:filesystem/preopens", "get-directories", |vmctx, _| {
        with_ctx(vmctx, |_, _| Ok(Some(Val::List(Vec::new()))))
    });
    for method in DESCRIPTOR_METHODS {
        let name = format!("[method]descriptor.{method}");
        interfaces.func("wasi:filesystem/types", &name, |_, _| {
            Err(HostError(
                "no descriptor exists: components get no directories yet".into(),
            ))
        });
    }
    interfaces.func(
        "wasi:filesystem/types",
        "[method]directory-entry-stream.read-directory-entry",
        |_, _| {
            Err(HostError(
                "no directory stream exists: components get no directories yet".into(),
            ))
        },
    );
    // No error comes from a file.
    interfaces.func("wasi:filesystem/types", "filesystem-error-code", |_, _| {
        Ok(Some(none()))
    });
}
