//! Where the fields of GC objects are: the one layout that generated code,
//! the runtime's constant expressions and the collector agree on.

use crate::{FieldType, ObjectHeader, StorageType};

/// The layout of a struct type's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// Offset of each field from the object's address, in declaration
    /// order. A field is aligned to its size, at most 8 (objects are
    /// 8-aligned).
    pub offsets: Vec<u32>,
    /// Size of an object, header included, a multiple of
    /// [`ObjectHeader::ALIGN`].
    pub size: u32,
}

impl StructLayout {
    /// The layout of a struct with `fields` (at most the 10,000 fields a
    /// type section may declare, so the size fits in 32 bits).
    pub fn new(fields: &[FieldType]) -> StructLayout {
        let mut offsets = Vec::with_capacity(fields.len());
        let mut end = u64::from(ObjectHeader::SIZE);
        for f in fields {
            let size = u64::from(f.storage.size());
            let at = end.next_multiple_of(size.min(ObjectHeader::ALIGN));
            offsets.push(at as u32);
            end = at + size;
        }
        StructLayout {
            offsets,
            size: end.next_multiple_of(ObjectHeader::ALIGN) as u32,
        }
    }
}

/// Size in bytes of an array of `len` elements of `elem`, header
/// included, rounded up to [`ObjectHeader::ALIGN`] (64-bit arithmetic:
/// `len` up to `u32::MAX` of 16-byte elements cannot overflow it).
pub fn array_size(elem: StorageType, len: u32) -> u64 {
    (u64::from(ObjectHeader::OFFSET_ARRAY_ELEMENTS) + u64::from(len) * u64::from(elem.size()))
        .next_multiple_of(ObjectHeader::ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValType;

    fn field(storage: StorageType) -> FieldType {
        FieldType {
            storage,
            mutable: false,
        }
    }

    #[test]
    fn fields_are_aligned_to_their_size() {
        let l = StructLayout::new(&[
            field(StorageType::I8),
            field(StorageType::Val(ValType::I64)),
            field(StorageType::I16),
            field(StorageType::Val(ValType::I32)),
            field(StorageType::Val(ValType::V128)),
        ]);
        assert_eq!(l.offsets, [8, 16, 24, 28, 32]);
        assert_eq!(l.size, 48);
        assert_eq!(StructLayout::new(&[]).size, 8);
        assert_eq!(StructLayout::new(&[field(StorageType::I8)]).size, 16);
    }

    #[test]
    fn array_sizes_are_rounded_and_do_not_overflow() {
        assert_eq!(array_size(StorageType::I8, 0), 16);
        assert_eq!(array_size(StorageType::I8, 3), 24);
        assert_eq!(
            array_size(StorageType::Val(ValType::V128), u32::MAX),
            16 + 16 * u64::from(u32::MAX)
        );
    }
}
