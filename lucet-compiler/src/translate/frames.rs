//! The translation's control stack: the open blocks, loops, `if`s and
//! `try_table`s, and the catch clauses in force. The operators that push and
//! pop them are in `control.rs` and `exceptions.rs`.

use cranelift_codegen::ir;

/// What kind of construct a control frame is.
pub(crate) enum FrameKind {
    /// The function body; its exit returns.
    Function,
    Block,
    Loop {
        header: ir::Block,
    },
    If {
        /// The block the `if`'s false edge goes to.
        else_block: ir::Block,
        /// Whether `else` was seen.
        else_seen: bool,
        /// The block's parameters, for the `else` arm.
        params: Vec<ir::Value>,
    },
    /// A `try_table`: its catch clauses are active while it is open.
    TryTable,
}

/// One open block of the control stack.
pub(crate) struct Frame {
    pub kind: FrameKind,
    /// Where `end` continues; its parameters are the block's results.
    pub exit: ir::Block,
    pub num_params: usize,
    pub num_results: usize,
    /// The operand stack height below the block's parameters.
    pub height: usize,
    /// Whether anything branches to `exit` or falls into it.
    pub exit_reached: bool,
}

/// One catch clause of an open `try_table`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clause {
    /// The tag, or `None` for `catch_all`.
    pub(super) tag: Option<u32>,
    /// Whether the label also receives the `exnref`.
    pub(super) with_ref: bool,
    /// The control frame the clause branches to (index in the stack).
    pub(super) target: usize,
}

/// The clauses of an open `try_table`, and their landing blocks once a
/// call needed them.
pub(crate) struct TryScope {
    pub(super) clauses: Vec<Clause>,
    pub(super) landing: Vec<Option<ir::Block>>,
}
