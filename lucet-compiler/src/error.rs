//! Compilation errors: every way `lucetc` can refuse an input.

/// Why a module could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The binary is malformed or fails validation.
    #[error("invalid module: {message} (at byte offset {offset})")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Byte offset in the binary.
        offset: usize,
    },
    /// Text input parsed, but its binary encoding fails validation.
    #[error("invalid module: {message} (at byte offset {offset} of the text's binary encoding)")]
    InvalidFromText {
        /// What is wrong.
        message: String,
        /// Byte offset in the binary encoding of the text.
        offset: usize,
    },
    /// The text format could not be parsed.
    #[error(
        "invalid text format: {message} (at byte offset {offset}, line {line}, column {column})"
    )]
    Text {
        /// What is wrong.
        message: String,
        /// Byte offset in the text.
        offset: usize,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The module uses a feature this compiler does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The input is a valid WebAssembly component that uses something
    /// this compiler does not compile yet (named).
    #[error("this component uses what Lucet does not support yet: {0}")]
    Component(String),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Options(String),
    /// A function import that the bindings do not list.
    #[error("import {0} is not in the bindings")]
    UnboundImport(String),
    /// Cranelift failed to compile a function.
    #[error("code generation failed for {func}: {message}")]
    Codegen {
        /// The function.
        func: String,
        /// Cranelift's message.
        message: String,
    },
    /// A function is past the compiler's size limits (see
    /// `MAX_FUNCTION_VALUES`, `MAX_FUNCTION_VOLUME`).
    #[error("function {func} is too complex to compile: {reason}")]
    TooComplex {
        /// The function.
        func: String,
        /// Which limit.
        reason: String,
    },
    /// Compilation took longer than its budget allows.
    #[error("compilation over its budget: {0}")]
    OverBudget(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(String),
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::Invalid {
            message: e.message().to_string(),
            offset: e.offset() as usize,
        }
    }
}

impl From<lucet_module::Error> for Error {
    fn from(e: lucet_module::Error) -> Self {
        Error::Output(e.to_string())
    }
}
