//! Component values the WASI interfaces pass often: results, options,
//! numbers.

use lucet_runtime::component::Val;

use super::host::HostError;

/// `ok(v)` of a `result`.
pub fn ok(v: Val) -> Val {
    Val::Variant(0, Some(Box::new(v)))
}

/// `ok` of a `result<_, E>`.
pub fn ok_unit() -> Val {
    Val::Variant(0, None)
}

/// `err(e)` of a `result`.
pub fn result_err(e: Val) -> Val {
    Val::Variant(1, Some(Box::new(e)))
}

/// `none`.
pub fn none() -> Val {
    Val::Variant(0, None)
}

/// `some(v)`.
pub fn some(v: Val) -> Val {
    Val::Variant(1, Some(Box::new(v)))
}

/// A `u64` argument.
pub fn u64_arg(v: &Val) -> Result<u64, HostError> {
    match v {
        Val::U64(x) => Ok(*x),
        _ => Err(HostError("expected a u64".into())),
    }
}
