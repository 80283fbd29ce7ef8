//! The public ways to load a module: the loader (`module/`) handed the
//! addresses of the runtime's builtins (`builtins.rs`), which generated
//! code calls through its call table.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use lucet_module::PublicKey;

use crate::builtins::runtime_symbol;
use crate::module::Module;
use crate::sys::private_copy::PrivateCopy;
use crate::{Error, Linker};

impl Module {
    /// Loads a compiled module file and resolves its imports against
    /// `linker`. The file is copied into this process's memory first, and
    /// its content hash is checked on that copy before anything in it is
    /// used: a damaged file is refused, and rewriting or truncating the file
    /// afterwards changes nothing of the loaded module.
    pub fn load(path: impl AsRef<Path>, linker: &Linker) -> Result<Arc<Module>, Error> {
        Self::open(path.as_ref(), linker, None)
    }

    /// Loads a compiled module file as [`Module::load`] does, and refuses it
    /// unless it carries a valid signature of its content hash by `key`
    /// (`lucetc --sign`).
    pub fn load_verified(
        path: impl AsRef<Path>,
        key: &PublicKey,
        linker: &Linker,
    ) -> Result<Arc<Module>, Error> {
        Self::open(path.as_ref(), linker, Some(key))
    }

    fn open(path: &Path, linker: &Linker, key: Option<&PublicKey>) -> Result<Arc<Module>, Error> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| Error::Io {
            path: name.clone(),
            source,
        })?;
        // What is checked and run is a private copy: the file on disk may
        // be rewritten or truncated later without changing this module.
        let copy = PrivateCopy::read(&file, &name)?;
        drop(file);
        Self::from_copy(copy, name, linker, key, &runtime_symbol)
    }

    /// Loads a compiled module from bytes in memory (copied first, as a
    /// file is).
    pub fn from_bytes(bytes: &[u8], name: &str, linker: &Linker) -> Result<Arc<Module>, Error> {
        let copy = PrivateCopy::with_bytes(bytes)?;
        Self::from_copy(copy, name.to_string(), linker, None, &runtime_symbol)
    }

    /// [`Module::from_bytes`], requiring a valid signature by `key`.
    pub fn from_bytes_verified(
        bytes: &[u8],
        name: &str,
        key: &PublicKey,
        linker: &Linker,
    ) -> Result<Arc<Module>, Error> {
        let copy = PrivateCopy::with_bytes(bytes)?;
        Self::from_copy(copy, name.to_string(), linker, Some(key), &runtime_symbol)
    }
}
