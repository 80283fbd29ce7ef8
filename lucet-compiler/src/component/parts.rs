//! What the component readers share: the walk over a component's top
//! level, nested binaries' bytes, canonical functions' names.

use wasmparser::{CanonicalFunction, Chunk, Parser, Payload, WasmFeatures};

use crate::Error;

/// The features components are validated with: the core features of
/// WebAssembly 3.0 and the component model.
pub(crate) fn features() -> WasmFeatures {
    crate::parse::features(crate::Standard::Wasm3) | WasmFeatures::COMPONENT_MODEL
}

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

/// One item of a component's top level.
pub(crate) enum TopLevel<'a> {
    /// A nested core module: its bytes.
    Module(&'a [u8]),
    /// A nested component (not walked).
    Component,
    /// Any other section.
    Section(Payload<'a>),
}

/// Calls `visit` with each item of a component's top level, in order.
pub(crate) fn walk_top_level<'a>(
    bytes: &'a [u8],
    mut visit: impl FnMut(TopLevel<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    loop {
        let payload = match parser.parse(rest, true)? {
            Chunk::Parsed { consumed, payload } => {
                rest = &rest[consumed..];
                payload
            }
            Chunk::NeedMoreData(_) => unreachable!("the whole input is given"),
        };
        // The parent parser leaves a nested binary to its reader: skip it.
        match payload {
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                let module = within(bytes, &unchecked_range)?;
                rest = &rest[module.len()..];
                visit(TopLevel::Module(module))?;
            }
            Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let nested = within(bytes, &unchecked_range)?;
                rest = &rest[nested.len()..];
                visit(TopLevel::Component)?;
            }
            Payload::End(_) => return Ok(()),
            other => visit(TopLevel::Section(other))?,
        }
    }
}
