//! Exception handling: `try_table`, `throw`, `throw_ref`.

use cranelift_codegen::ir;
use wasmparser::Operator;

use super::calls::Callee;
use super::{TResult, TranslateError, Translation};

impl Translation<'_, '_> {
    /// Whether a `try_table` with catch clauses is open.
    pub(super) fn has_handlers(&self) -> bool {
        false
    }

    /// A call inside a `try_table`.
    pub(super) fn try_call(&mut self, _callee: Callee, _args: &[ir::Value]) -> Vec<ir::Value> {
        unreachable!("no handlers without try_table")
    }

    pub(super) fn exception_operator(&mut self, op: &Operator<'_>) -> TResult<bool> {
        match op {
            Operator::TryTable { .. } | Operator::Throw { .. } | Operator::ThrowRef => {
                Err(TranslateError::Unsupported("exception handling".into()))
            }
            _ => Ok(false),
        }
    }
}
