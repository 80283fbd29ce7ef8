//! The runtime's errors.

use std::any::Any;
use std::fmt;

use lucet_module::{FuncType, TrapCode};

use crate::Val;

/// An exception that left a run: its tag and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionInfo {
    /// The tag, as an index into the tags of the module whose function
    /// the host called, if that module knows it (defines or imports it).
    pub tag: Option<u32>,
    /// The payload values, in order.
    pub payload: Vec<Val>,
}

impl std::fmt::Display for ExceptionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tag {
            Some(t) => write!(f, "tag {t}")?,
            None => write!(f, "a tag of another instance")?,
        }
        let payload: Vec<String> = self.payload.iter().map(|v| v.to_string()).collect();
        write!(f, " ({})", payload.join(", "))
    }
}

/// Everything that can go wrong loading, instantiating or running a module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every slot of the region holds a live instance.
    #[error("region is full: all {0} slots hold live instances")]
    RegionFull(usize),
    /// Guest code trapped.
    #[error("trap: {code} in \"{function}\"")]
    Trap {
        /// Why.
        code: TrapCode,
        /// The function it trapped in.
        function: String,
        /// Byte offset of the faulting instruction in the function's code.
        offset: u32,
    },
    /// Guest code threw an exception that nothing caught.
    #[error("uncaught exception: {0}")]
    UncaughtException(ExceptionInfo),
    /// A host function terminated the instance.
    #[error("terminated: {0}")]
    Terminated(TerminationDetails),
    /// A function the module imports is not provided.
    #[error("unknown import {0}")]
    UnknownImport(String),
    /// An import is provided with another type.
    #[error("import {import}: module expects {expected}, host provides {provided}")]
    ImportTypeMismatch {
        /// `module.name`
        import: String,
        /// The module's type.
        expected: String,
        /// The provided type.
        provided: String,
    },
    /// No exported function of that name.
    #[error("no exported function {0:?}")]
    ExportNotFound(String),
    /// Arguments do not match the function's signature.
    #[error("{func}: expected arguments {expected}, got ({got})")]
    ArgumentMismatch {
        /// The function.
        func: String,
        /// Its signature.
        expected: FuncType,
        /// The types of the given arguments.
        got: String,
    },
    /// The compiled file is unusable.
    #[error("invalid module file: {0}")]
    InvalidModule(String),
    /// The compiled file's metadata is unreadable.
    #[error(transparent)]
    Metadata(#[from] lucet_module::Error),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The module needs more than the region's limits allow.
    #[error("limits exceeded: {0}")]
    LimitsExceeded(String),
    /// The limits themselves are invalid.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// The instance is not in a state that allows the operation.
    #[error("instance state: {0}")]
    InvalidState(&'static str),
    /// A host function accessed guest memory out of bounds.
    #[error("guest memory access out of bounds: {len} bytes at {ptr:#x}")]
    MemoryOutOfBounds {
        /// Guest address.
        ptr: u64,
        /// Length.
        len: u64,
    },
    /// A value of the wrong type was used.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// Fuel was given to an instance of a module that does not count
    /// instructions.
    #[error("{0} was compiled without instruction counting; compile it with lucetc --count-instructions to limit it by fuel")]
    FuelUnsupported(String),
    /// A system call failed.
    #[error("system error: {0}")]
    System(String),
}

impl Error {
    /// The trap code, when this error is a trap.
    pub fn trap_code(&self) -> Option<TrapCode> {
        match self {
            Error::Trap { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Why a host function ended the instance's run.
pub enum TerminationDetails {
    /// The host called `Vmctx::terminate` with this value.
    Provided(Box<dyn Any + Send + Sync>),
    /// A host function (or runtime builtin) panicked with this message.
    HostPanic(String),
    /// A kill switch stopped the run.
    Remote,
}

impl TerminationDetails {
    /// The value given to `Vmctx::terminate`, if it is a `T`.
    pub fn provided<T: Any>(&self) -> Option<&T> {
        match self {
            TerminationDetails::Provided(b) => b.downcast_ref(),
            TerminationDetails::HostPanic(_) | TerminationDetails::Remote => None,
        }
    }
}

impl fmt::Debug for TerminationDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for TerminationDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminationDetails::HostPanic(m) => write!(f, "host function panicked: {m}"),
            TerminationDetails::Remote => write!(f, "stopped by a kill switch"),
            TerminationDetails::Provided(b) => {
                if let Some(s) = b.downcast_ref::<String>() {
                    write!(f, "{s}")
                } else if let Some(s) = b.downcast_ref::<&str>() {
                    write!(f, "{s}")
                } else {
                    write!(f, "the host terminated the instance")
                }
            }
        }
    }
}
