//! The public ways to load a module: the loader (`module/`) handed the
//! addresses of the runtime's builtins (`builtins.rs`), which generated
//! code calls through its call table.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use lucet_module::PublicKey;

use crate::builtins::runtime_symbol;
use crate::module::Module;
use crate::sys::mmap::SealedFile;
use crate::{Error, Linker};

impl Module {
    /// Loads a compiled module file and resolves its imports against
    /// `linker`. The file is copied into a sealed in-memory file first, and
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
        // What is checked and run is a sealed copy: the file on disk may be
        // rewritten or truncated later without changing this module.
        let sealed = SealedFile::copy_of(&file, &name)?;
        drop(file);
        Self::from_file(sealed, name, linker, key, &runtime_symbol)
    }

    /// Loads a compiled module from bytes in memory (placed in a sealed
    /// in-memory file so that its memory image can be mapped).
    pub fn from_bytes(bytes: &[u8], name: &str, linker: &Linker) -> Result<Arc<Module>, Error> {
        let file = SealedFile::with_bytes(name, bytes)?;
        Self::from_file(file, name.to_string(), linker, None, &runtime_symbol)
    }

    /// [`Module::from_bytes`], requiring a valid signature by `key`.
    pub fn from_bytes_verified(
        bytes: &[u8],
        name: &str,
        key: &PublicKey,
        linker: &Linker,
    ) -> Result<Arc<Module>, Error> {
        let file = SealedFile::with_bytes(name, bytes)?;
        Self::from_file(file, name.to_string(), linker, Some(key), &runtime_symbol)
    }
}
