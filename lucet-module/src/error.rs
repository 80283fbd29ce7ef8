//! Errors reading a compiled module's metadata.

/// Why a compiled module's metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata does not start with the Lucet magic bytes.
    #[error("not a Lucet module: metadata section has no Lucet header")]
    BadMagic,
    /// The file was written by a compiler speaking another format version.
    #[error("module format version {found} is not supported (this runtime reads version {expected}); recompile the module with a matching lucetc")]
    VersionMismatch {
        /// Version found in the file.
        found: u32,
        /// Version this crate reads and writes.
        expected: u32,
    },
    /// The metadata is truncated or corrupted.
    #[error("corrupted module metadata: {0}")]
    Corrupted(String),
    /// The file is not a well-formed Lucet module.
    #[error("invalid module file: {0}")]
    InvalidFile(String),
    /// The file's bytes are not those the compiler sealed.
    #[error("module file is damaged: {0}")]
    Damaged(String),
    /// A signature was required and the file has none.
    #[error("module file is not signed")]
    Unsigned,
    /// The file's signature does not verify with the given key.
    #[error("module signature is not valid for this key: {0}")]
    BadSignature(String),
    /// A public key could not be read.
    #[error("{0}")]
    BadKey(String),
    /// Serialization failed (only when writing).
    #[error("cannot serialize module metadata: {0}")]
    Serialize(String),
}
