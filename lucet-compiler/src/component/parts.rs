//! Helpers the component readers share: nested binaries' bytes and
//! canonical functions' names.

use wasmparser::CanonicalFunction;

use crate::Error;

/// The bytes of a nested module or component, which validation has
/// checked lie in the input.
pub(crate) fn within<'a>(bytes: &'a [u8], range: &std::ops::Range<u64>) -> Result<&'a [u8], Error> {
    usize::try_from(range.start)
        .ok()
        .zip(usize::try_from(range.end).ok())
        .and_then(|(start, end)| bytes.get(start..end))
        .ok_or_else(|| Error::Invalid {
            message: "a nested module lies outside the component".into(),
            offset: 0,
        })
}

/// The name of a canonical function's kind (`lift`, `lower`, ...).
pub(crate) fn canonical_kind(function: &CanonicalFunction) -> String {
    let name = match function {
        CanonicalFunction::Lift { .. } => "lift",
        CanonicalFunction::Lower { .. } => "lower",
        CanonicalFunction::ResourceNew { .. } => "resource.new",
        CanonicalFunction::ResourceDrop { .. } => "resource.drop",
        CanonicalFunction::ResourceRep { .. } => "resource.rep",
        other => {
            return format!("{other:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or("other")
                .to_string()
        }
    };
    name.to_string()
}
