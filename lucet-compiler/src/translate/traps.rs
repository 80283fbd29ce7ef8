//! The trap codes generated code uses, and what they mean to the runtime.
//!
//! Cranelift reserves a few codes for itself (stack overflow, heap out of
//! bounds, integer overflow and division by zero, bad float-to-int
//! conversion); the rest are ours, as user codes. Each compiled trap site
//! records its code, and [`lucet_trap`] turns it into the runtime's
//! `TrapCode`.

use cranelift_codegen::ir::TrapCode;

/// `unreachable` was executed.
pub const UNREACHABLE: TrapCode = TrapCode::unwrap_user(1);
/// A table index outside the table.
pub const TABLE_OUT_OF_BOUNDS: TrapCode = TrapCode::unwrap_user(2);
/// `call_indirect` of a null element.
pub const INDIRECT_CALL_TO_NULL: TrapCode = TrapCode::unwrap_user(3);
/// `call_indirect` of a function of another type.
pub const BAD_SIGNATURE: TrapCode = TrapCode::unwrap_user(4);
/// A null reference where a non-null one is needed (`call_ref`,
/// `ref.as_non_null`, `throw_ref`).
pub const NULL_REFERENCE: TrapCode = TrapCode::unwrap_user(5);
/// `ref.cast` of a reference of another type.
pub const CAST_FAILURE: TrapCode = TrapCode::unwrap_user(8);
/// An array index or range outside the array.
pub const ARRAY_OUT_OF_BOUNDS: TrapCode = TrapCode::unwrap_user(9);
/// A GC object did not fit in the GC heap.
pub const GC_HEAP_EXHAUSTED: TrapCode = TrapCode::unwrap_user(10);
/// The instance ran out of fuel.
pub const OUT_OF_FUEL: TrapCode = TrapCode::unwrap_user(7);
/// A memory access outside the memory.
pub const HEAP_OUT_OF_BOUNDS: TrapCode = TrapCode::HEAP_OUT_OF_BOUNDS;

/// The runtime's trap code for a compiled trap code.
pub fn lucet_trap(code: TrapCode) -> lucet_module::TrapCode {
    use lucet_module::TrapCode as L;
    match code {
        TrapCode::STACK_OVERFLOW => L::StackOverflow,
        TrapCode::HEAP_OUT_OF_BOUNDS => L::HeapOutOfBounds,
        TrapCode::INTEGER_OVERFLOW => L::IntegerOverflow,
        TrapCode::INTEGER_DIVISION_BY_ZERO => L::IntegerDivisionByZero,
        TrapCode::BAD_CONVERSION_TO_INTEGER => L::BadConversionToInteger,
        UNREACHABLE => L::Unreachable,
        TABLE_OUT_OF_BOUNDS => L::TableOutOfBounds,
        INDIRECT_CALL_TO_NULL => L::IndirectCallToNull,
        BAD_SIGNATURE => L::BadSignature,
        NULL_REFERENCE => L::NullReference,
        OUT_OF_FUEL => L::OutOfFuel,
        CAST_FAILURE => L::CastFailure,
        ARRAY_OUT_OF_BOUNDS => L::ArrayOutOfBounds,
        GC_HEAP_EXHAUSTED => L::GcHeapExhausted,
        _ => L::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_ours_has_a_meaning() {
        for code in [
            UNREACHABLE,
            TABLE_OUT_OF_BOUNDS,
            INDIRECT_CALL_TO_NULL,
            BAD_SIGNATURE,
            NULL_REFERENCE,
            OUT_OF_FUEL,
            CAST_FAILURE,
            ARRAY_OUT_OF_BOUNDS,
            GC_HEAP_EXHAUSTED,
            HEAP_OUT_OF_BOUNDS,
        ] {
            assert_ne!(lucet_trap(code), lucet_module::TrapCode::Unknown, "{code}");
        }
        assert_eq!(
            lucet_trap(TrapCode::unwrap_user(200)),
            lucet_module::TrapCode::Unknown
        );
    }
}
