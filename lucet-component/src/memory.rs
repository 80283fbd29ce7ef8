//! Values in guest memory: the canonical ABI's `load` (lifting what a
//! guest wrote) and `store` (lowering what the host gives it).
//!
//! Every pointer is checked against the memory with 64-bit arithmetic
//! before it is read or written, and against its type's alignment where
//! the canonical ABI asks; strings and lists count against a [`Budget`]
//! before the host allocates for them, so a guest that claims a list of
//! four billion elements costs the host nothing.

use crate::types::discriminant_size;
use crate::{AbiError, Val, ValType};
use serde::{Deserialize, Serialize};

/// A guest's linear memory and its allocator, as a canonical `lift` or
/// `lower` sees them.
pub trait GuestMemory {
    /// The memory's bytes, as they are now.
    fn bytes(&self) -> &[u8];
    /// The memory's bytes, to write.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Calls the guest's `realloc(0, 0, align, size)`: a new block. The
    /// guest may grow its memory meanwhile, so slices taken before are
    /// stale.
    fn alloc(&mut self, align: u32, size: u32) -> Result<u32, AbiError>;
}

/// How a function's strings are encoded in guest memory (its canonical
/// `string-encoding` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StringEncoding {
    /// UTF-8: a pointer and a length in bytes.
    #[default]
    Utf8,
    /// UTF-16 (little-endian): a pointer aligned to 2 and a length in code
    /// units.
    Utf16,
    /// `latin1+utf16`: Latin-1 bytes, or UTF-16 code units when the
    /// length has its top bit set.
    CompactUtf16,
}

/// The length tag of a `latin1+utf16` string held as UTF-16.
const UTF16_TAG: u32 = 1 << 31;

/// How many bytes of strings and lists one call may move, all values
/// together: the host allocates at most this much for what a guest says.
/// It also carries how the call's strings are encoded, since every
/// function that moves a string takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    left: u64,
    limit: u64,
    encoding: StringEncoding,
}

impl Budget {
    /// A budget of `limit` bytes, for UTF-8 strings.
    pub fn new(limit: u64) -> Budget {
        Budget {
            left: limit,
            limit,
            encoding: StringEncoding::Utf8,
        }
    }

    /// The same budget, for strings encoded as `encoding`.
    pub fn with_encoding(self, encoding: StringEncoding) -> Budget {
        Budget { encoding, ..self }
    }

    fn take(&mut self, bytes: u64) -> Result<(), AbiError> {
        if bytes > self.left {
            return Err(AbiError::TooLarge {
                requested: bytes,
                limit: self.limit,
            });
        }
        self.left -= bytes;
        Ok(())
    }
}

/// The `len` bytes at `ptr`, if they lie in `memory`.
fn range(memory: &[u8], ptr: u64, len: u64) -> Result<std::ops::Range<usize>, AbiError> {
    let out = || AbiError::OutOfBounds {
        ptr,
        len,
        memory: memory.len() as u64,
    };
    let end = ptr.checked_add(len).ok_or_else(out)?;
    if end > memory.len() as u64 {
        return Err(out());
    }
    Ok(ptr as usize..end as usize)
}

fn read<const N: usize>(memory: &[u8], ptr: u64) -> Result<[u8; N], AbiError> {
    let r = range(memory, ptr, N as u64)?;
    Ok(memory[r].try_into().expect("N bytes"))
}

fn check_aligned(ptr: u64, align: u32) -> Result<(), AbiError> {
    if ptr % u64::from(align) != 0 {
        return Err(AbiError::Misaligned { ptr, align });
    }
    Ok(())
}

/// Reads a value of type `ty` at `ptr` (which must be aligned for it).
pub fn load(memory: &[u8], ptr: u32, ty: &ValType, budget: &mut Budget) -> Result<Val, AbiError> {
    check_aligned(u64::from(ptr), ty.alignment())?;
    // The whole value lies in memory; its parts are then in bounds too.
    range(memory, u64::from(ptr), u64::from(ty.size()))?;
    load_at(memory, u64::from(ptr), ty, budget)
}

fn load_at(memory: &[u8], ptr: u64, ty: &ValType, budget: &mut Budget) -> Result<Val, AbiError> {
    let u32_at = |at: u64| read::<4>(memory, at).map(u32::from_le_bytes);
    Ok(match ty {
        ValType::Bool => Val::Bool(read::<1>(memory, ptr)?[0] != 0),
        ValType::S8 => Val::S8(i8::from_le_bytes(read(memory, ptr)?)),
        ValType::U8 => Val::U8(u8::from_le_bytes(read(memory, ptr)?)),
        ValType::S16 => Val::S16(i16::from_le_bytes(read(memory, ptr)?)),
        ValType::U16 => Val::U16(u16::from_le_bytes(read(memory, ptr)?)),
        ValType::S32 => Val::S32(i32::from_le_bytes(read(memory, ptr)?)),
        ValType::U32 => Val::U32(u32_at(ptr)?),
        ValType::S64 => Val::S64(i64::from_le_bytes(read(memory, ptr)?)),
        ValType::U64 => Val::U64(u64::from_le_bytes(read(memory, ptr)?)),
        ValType::F32 => Val::F32(f32::from_le_bytes(read(memory, ptr)?)),
        ValType::F64 => Val::F64(f64::from_le_bytes(read(memory, ptr)?)),
        ValType::Char => {
            let c = u32_at(ptr)?;
            Val::Char(char::from_u32(c).ok_or(AbiError::InvalidChar(c))?)
        }
        ValType::String => lift_string(memory, u32_at(ptr)?, u32_at(ptr + 4)?, budget)?,
        ValType::List(elem) => lift_list(memory, u32_at(ptr)?, u32_at(ptr + 4)?, elem, budget)?,
        ValType::Record(_) | ValType::Tuple(_) => {
            let fields = ty.fields().expect("a record-like type");
            let mut values = Vec::with_capacity(fields.len());
            for (f, offset) in fields.iter().zip(ty.field_offsets()) {
                values.push(load_at(memory, ptr + u64::from(offset), f, budget)?);
            }
            Val::Record(values)
        }
        ValType::Variant(_) | ValType::Enum(_) | ValType::Option(_) | ValType::Result { .. } => {
            let disc = match discriminant_size(ty.case_count()) {
                1 => u32::from(read::<1>(memory, ptr)?[0]),
                2 => u32::from(u16::from_le_bytes(read(memory, ptr)?)),
                _ => u32_at(ptr)?,
            };
            let payload = match ty.case(disc)? {
                Some(t) => Some(Box::new(load_at(
                    memory,
                    ptr + u64::from(ty.payload_offset()),
                    t,
                    budget,
                )?)),
                None => None,
            };
            Val::Variant(disc, payload)
        }
        ValType::Flags(names) => {
            let size = ty.size();
            let mut bits = vec![0u8; size as usize];
            bits.copy_from_slice(&memory[range(memory, ptr, u64::from(size))?]);
            // Bits past the last flag are ignored.
            Val::Flags(
                (0..names.len())
                    .map(|i| bits[i / 8] & (1 << (i % 8)) != 0)
                    .collect(),
            )
        }
        ValType::Own(_) | ValType::Borrow(_) => Val::Handle(u32_at(ptr)?),
    })
}

/// The string at `data` of length `len`, in the budget's encoding.
pub(crate) fn lift_string(
    memory: &[u8],
    data: u32,
    len: u32,
    budget: &mut Budget,
) -> Result<Val, AbiError> {
    let data = u64::from(data);
    let utf16 = |units: u32, budget: &mut Budget| -> Result<Val, AbiError> {
        check_aligned(data, 2)?;
        let bytes = &memory[range(memory, data, u64::from(units) * 2)?];
        // The host holds the text as UTF-8: up to 3 bytes per unit.
        budget.take(u64::from(units) * 3)?;
        let units = bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]));
        let text: String = char::decode_utf16(units)
            .collect::<Result<_, _>>()
            .map_err(|_| AbiError::InvalidUtf16)?;
        Ok(Val::String(text))
    };
    match budget.encoding {
        StringEncoding::Utf8 => {
            let len = u64::from(len);
            let bytes = &memory[range(memory, data, len)?];
            budget.take(len)?;
            let text = std::str::from_utf8(bytes).map_err(|_| AbiError::InvalidUtf8)?;
            Ok(Val::String(text.to_owned()))
        }
        StringEncoding::Utf16 => utf16(len, budget),
        StringEncoding::CompactUtf16 if len & UTF16_TAG != 0 => utf16(len ^ UTF16_TAG, budget),
        StringEncoding::CompactUtf16 => {
            let bytes = &memory[range(memory, data, u64::from(len))?];
            // Latin-1 above 0x7f takes 2 bytes in UTF-8.
            budget.take(u64::from(len) * 2)?;
            Ok(Val::String(bytes.iter().map(|&b| char::from(b)).collect()))
        }
    }
}

/// `s` as the budget's encoding stores it: its bytes, their alignment,
/// and the length the guest is given.
fn encode_string(s: &str, encoding: StringEncoding) -> Result<(Vec<u8>, u32, u32), AbiError> {
    let too_long = || AbiError::TooLarge {
        requested: s.len() as u64,
        limit: u64::from(u32::MAX >> 1),
    };
    let utf16 = |tag: u32| -> Result<(Vec<u8>, u32, u32), AbiError> {
        let units: Vec<u16> = s.encode_utf16().collect();
        let len = u32::try_from(units.len())
            .ok()
            .filter(|n| n & UTF16_TAG == 0)
            .ok_or_else(too_long)?;
        let bytes = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        Ok((bytes, 2, len | tag))
    };
    match encoding {
        StringEncoding::Utf8 => {
            let len = u32::try_from(s.len()).map_err(|_| too_long())?;
            Ok((s.as_bytes().to_vec(), 1, len))
        }
        StringEncoding::Utf16 => utf16(0),
        StringEncoding::CompactUtf16 if s.chars().all(|c| u32::from(c) <= 0xff) => {
            let bytes: Vec<u8> = s.chars().map(|c| c as u8).collect();
            let len = u32::try_from(bytes.len())
                .ok()
                .filter(|n| n & UTF16_TAG == 0)
                .ok_or_else(too_long)?;
            Ok((bytes, 1, len))
        }
        StringEncoding::CompactUtf16 => utf16(UTF16_TAG),
    }
}

/// The block a string takes in guest memory: `(align, size)`.
fn string_block(s: &str, encoding: StringEncoding) -> (u32, u32) {
    match encoding {
        StringEncoding::Utf8 => (1, u32::try_from(s.len()).unwrap_or(u32::MAX)),
        _ => match encode_string(s, encoding) {
            Ok((bytes, align, _)) => (align, u32::try_from(bytes.len()).unwrap_or(u32::MAX)),
            Err(_) => (1, u32::MAX),
        },
    }
}

/// The list of `len` elements of type `elem` at `data`.
pub(crate) fn lift_list(
    memory: &[u8],
    data: u32,
    len: u32,
    elem: &ValType,
    budget: &mut Budget,
) -> Result<Val, AbiError> {
    let (data, len) = (u64::from(data), u64::from(len));
    let size = u64::from(elem.size());
    check_aligned(data, elem.alignment())?;
    // At most 2^32 elements of at most 2^32 bytes: no overflow in 64 bits.
    let bytes = len * size;
    range(memory, data, bytes)?;
    if *elem == ValType::U8 {
        budget.take(len)?;
        return Ok(Val::Bytes(memory[range(memory, data, len)?].to_vec()));
    }
    // Each element costs the host a value's worth at least (more than its
    // bytes in guest memory, for small ones), even when it takes none.
    let host_bytes = len * (std::mem::size_of::<Val>() as u64).max(size);
    budget.take(host_bytes)?;
    let mut items = Vec::with_capacity(len as usize);
    for i in 0..len {
        items.push(load_at(memory, data + i * size, elem, budget)?);
    }
    Ok(Val::List(items))
}

/// Writes `s` into a new block of guest memory, in the budget's encoding:
/// its pointer and length.
pub(crate) fn lower_string(
    memory: &mut dyn GuestMemory,
    s: &str,
    budget: &mut Budget,
) -> Result<(u32, u32), AbiError> {
    let (bytes, align, len) = encode_string(s, budget.encoding)?;
    budget.take(bytes.len() as u64)?;
    let data = alloc(memory, align, bytes.len() as u64)?;
    write(memory, data, &bytes)?;
    Ok((data as u32, len))
}

/// Writes `bytes` (a `list<u8>`) into a new block of guest memory: its
/// pointer and length.
pub(crate) fn lower_bytes(
    memory: &mut dyn GuestMemory,
    bytes: &[u8],
    budget: &mut Budget,
) -> Result<(u32, u32), AbiError> {
    budget.take(bytes.len() as u64)?;
    let data = alloc(memory, 1, bytes.len() as u64)?;
    write(memory, data, bytes)?;
    Ok((data as u32, bytes.len() as u32))
}

/// Writes `items` into a new block of guest memory: its pointer and
/// length.
pub(crate) fn lower_list(
    memory: &mut dyn GuestMemory,
    elem: &ValType,
    items: &[Val],
    budget: &mut Budget,
) -> Result<(u32, u32), AbiError> {
    let size = u64::from(elem.size());
    let bytes = size * items.len() as u64;
    budget.take(bytes)?;
    let data = alloc(memory, elem.alignment(), bytes)?;
    for (i, item) in items.iter().enumerate() {
        store_at(memory, data + i as u64 * size, elem, item, budget)?;
    }
    Ok((data as u32, items.len() as u32))
}

/// The blocks that storing or lowering `value`, of type `ty`, allocates,
/// in the order it allocates them: `(align, size)` each. A host that must
/// have the guest allocate them before it writes (the guest's `realloc`
/// runs on the guest's side of a call) asks for these, then hands over
/// the blocks in this order ([`GuestMemory::alloc`]).
pub fn allocations(ty: &ValType, value: &Val, encoding: StringEncoding) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    plan(ty, value, encoding, &mut out);
    out
}

fn plan(ty: &ValType, value: &Val, encoding: StringEncoding, out: &mut Vec<(u32, u32)>) {
    let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    match (ty, value) {
        (ValType::String, Val::String(s)) => out.push(string_block(s, encoding)),
        (ValType::List(_), Val::Bytes(b)) => out.push((1, size(b.len()))),
        (ValType::List(elem), Val::List(items)) => {
            let bytes = u64::from(elem.size()) * items.len() as u64;
            out.push((elem.alignment(), u32::try_from(bytes).unwrap_or(u32::MAX)));
            for item in items {
                plan(elem, item, encoding, out);
            }
        }
        (ValType::Record(_) | ValType::Tuple(_), Val::Record(values)) => {
            if let Some(fields) = ty.fields() {
                for (f, v) in fields.iter().zip(values) {
                    plan(f, v, encoding, out);
                }
            }
        }
        (_, Val::Variant(disc, Some(payload))) => {
            if let Ok(Some(t)) = ty.case(*disc) {
                plan(t, payload, encoding, out);
            }
        }
        _ => {}
    }
}

/// Writes `value`, of type `ty`, at `ptr` (which must be aligned for it),
/// allocating guest memory for its strings and lists.
pub fn store(
    memory: &mut dyn GuestMemory,
    ptr: u32,
    ty: &ValType,
    value: &Val,
    budget: &mut Budget,
) -> Result<(), AbiError> {
    check_aligned(u64::from(ptr), ty.alignment())?;
    range(memory.bytes(), u64::from(ptr), u64::from(ty.size()))?;
    store_at(memory, u64::from(ptr), ty, value, budget)
}

fn write(memory: &mut dyn GuestMemory, ptr: u64, bytes: &[u8]) -> Result<(), AbiError> {
    let r = range(memory.bytes(), ptr, bytes.len() as u64)?;
    memory.bytes_mut()[r].copy_from_slice(bytes);
    Ok(())
}

fn mismatch(ty: &ValType) -> AbiError {
    AbiError::TypeMismatch {
        expected: ty.kind(),
    }
}

/// A new block of `size` bytes aligned to `align`, checked to lie in
/// memory.
fn alloc(memory: &mut dyn GuestMemory, align: u32, size: u64) -> Result<u64, AbiError> {
    let size32 = u32::try_from(size).map_err(|_| AbiError::TooLarge {
        requested: size,
        limit: u64::from(u32::MAX),
    })?;
    let at = u64::from(memory.alloc(align, size32)?);
    check_aligned(at, align)?;
    range(memory.bytes(), at, size)?;
    Ok(at)
}

fn store_at(
    memory: &mut dyn GuestMemory,
    ptr: u64,
    ty: &ValType,
    value: &Val,
    budget: &mut Budget,
) -> Result<(), AbiError> {
    match (ty, value) {
        (ValType::Bool, Val::Bool(b)) => write(memory, ptr, &[u8::from(*b)]),
        (ValType::S8, Val::S8(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::U8, Val::U8(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::S16, Val::S16(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::U16, Val::U16(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::S32, Val::S32(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::U32, Val::U32(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::S64, Val::S64(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::U64, Val::U64(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::F32, Val::F32(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::F64, Val::F64(v)) => write(memory, ptr, &v.to_le_bytes()),
        (ValType::Char, Val::Char(c)) => write(memory, ptr, &u32::from(*c).to_le_bytes()),
        (ValType::String, Val::String(s)) => {
            let (data, len) = lower_string(memory, s, budget)?;
            write(memory, ptr, &data.to_le_bytes())?;
            write(memory, ptr + 4, &len.to_le_bytes())
        }
        (ValType::List(elem), Val::List(items)) => {
            let (data, len) = lower_list(memory, elem, items, budget)?;
            write(memory, ptr, &data.to_le_bytes())?;
            write(memory, ptr + 4, &len.to_le_bytes())
        }
        (ValType::List(elem), Val::Bytes(bytes)) if **elem == ValType::U8 => {
            let (data, len) = lower_bytes(memory, bytes, budget)?;
            write(memory, ptr, &data.to_le_bytes())?;
            write(memory, ptr + 4, &len.to_le_bytes())
        }
        (ValType::Record(_) | ValType::Tuple(_), Val::Record(values)) => {
            let fields = ty.fields().expect("a record-like type");
            if fields.len() != values.len() {
                return Err(mismatch(ty));
            }
            for ((f, v), offset) in fields.iter().zip(values).zip(ty.field_offsets()) {
                store_at(memory, ptr + u64::from(offset), f, v, budget)?;
            }
            Ok(())
        }
        (
            ValType::Variant(_) | ValType::Enum(_) | ValType::Option(_) | ValType::Result { .. },
            Val::Variant(disc, payload),
        ) => {
            let case = ty.case(*disc).map_err(|_| mismatch(ty))?;
            match discriminant_size(ty.case_count()) {
                1 => write(memory, ptr, &[*disc as u8])?,
                2 => write(memory, ptr, &(*disc as u16).to_le_bytes())?,
                _ => write(memory, ptr, &disc.to_le_bytes())?,
            }
            match (case, payload) {
                (Some(t), Some(v)) => {
                    store_at(memory, ptr + u64::from(ty.payload_offset()), t, v, budget)
                }
                (None, None) => Ok(()),
                _ => Err(mismatch(ty)),
            }
        }
        (ValType::Flags(names), Val::Flags(set)) if set.len() == names.len() => {
            let mut bits = vec![0u8; ty.size() as usize];
            for (i, on) in set.iter().enumerate() {
                if *on {
                    bits[i / 8] |= 1 << (i % 8);
                }
            }
            write(memory, ptr, &bits)
        }
        (ValType::Own(_) | ValType::Borrow(_), Val::Handle(h)) => {
            write(memory, ptr, &h.to_le_bytes())
        }
        _ => Err(mismatch(ty)),
    }
}

/// Where a new block would go in a test memory: bump allocation.
#[cfg(test)]
pub(crate) struct TestMemory {
    pub bytes: Vec<u8>,
    pub next: u32,
}

#[cfg(test)]
impl GuestMemory for TestMemory {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
    fn alloc(&mut self, align: u32, size: u32) -> Result<u32, AbiError> {
        let at = crate::types::align_to(self.next, align);
        let end = at
            .checked_add(size)
            .filter(|end| *end as usize <= self.bytes.len())
            .ok_or_else(|| AbiError::Realloc("out of memory".into()))?;
        self.next = end;
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(size: usize) -> TestMemory {
        TestMemory {
            bytes: vec![0; size],
            next: 1024,
        }
    }

    fn budget() -> Budget {
        Budget::new(1 << 20)
    }

    fn round_trip(ty: &ValType, value: Val) {
        let mut m = memory(4096);
        store(&mut m, 64, ty, &value, &mut budget()).unwrap();
        assert_eq!(
            load(&m.bytes, 64, ty, &mut budget()).unwrap(),
            value,
            "{ty:?}"
        );
    }

    #[test]
    fn scalars_are_little_endian_at_their_place() {
        let mut m = memory(64);
        store(
            &mut m,
            8,
            &ValType::U32,
            &Val::U32(0x0102_0304),
            &mut budget(),
        )
        .unwrap();
        assert_eq!(&m.bytes[8..12], &[4, 3, 2, 1]);
        store(&mut m, 16, &ValType::S16, &Val::S16(-2), &mut budget()).unwrap();
        assert_eq!(&m.bytes[16..18], &[0xfe, 0xff]);
        for (ty, v) in [
            (ValType::Bool, Val::Bool(true)),
            (ValType::S8, Val::S8(-5)),
            (ValType::U64, Val::U64(u64::MAX - 1)),
            (ValType::F32, Val::F32(1.5)),
            (ValType::F64, Val::F64(-0.25)),
            (ValType::Char, Val::Char('é')),
        ] {
            round_trip(&ty, v);
        }
        // Any nonzero byte is true.
        m.bytes[40] = 7;
        assert_eq!(
            load(&m.bytes, 40, &ValType::Bool, &mut budget()),
            Ok(Val::Bool(true))
        );
    }

    #[test]
    fn chars_must_be_unicode_scalar_values() {
        let mut m = memory(64);
        for bad in [0xd800u32, 0x11_0000, u32::MAX] {
            m.bytes[0..4].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(
                load(&m.bytes, 0, &ValType::Char, &mut budget()),
                Err(AbiError::InvalidChar(bad))
            );
        }
    }

    #[test]
    fn strings_are_pointer_and_length_to_utf8() {
        let mut m = memory(4096);
        store(
            &mut m,
            0,
            &ValType::String,
            &Val::String("héllo".into()),
            &mut budget(),
        )
        .unwrap();
        let data = u32::from_le_bytes(m.bytes[0..4].try_into().unwrap()) as usize;
        assert_eq!(&m.bytes[4..8], &6u32.to_le_bytes());
        assert_eq!(&m.bytes[data..data + 6], "héllo".as_bytes());
        round_trip(&ValType::String, Val::String(String::new()));
        // Invalid UTF-8.
        m.bytes[data] = 0xff;
        assert_eq!(
            load(&m.bytes, 0, &ValType::String, &mut budget()),
            Err(AbiError::InvalidUtf8)
        );
    }

    #[test]
    fn strings_and_lists_at_the_edge_of_memory() {
        let mut m = memory(256);
        // Ends exactly at the end: fine.
        m.bytes[252..256].copy_from_slice(b"edge");
        m.bytes[0..4].copy_from_slice(&252u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            load(&m.bytes, 0, &ValType::String, &mut budget()),
            Ok(Val::String("edge".into()))
        );
        // One byte past: out of bounds.
        m.bytes[4..8].copy_from_slice(&5u32.to_le_bytes());
        assert!(matches!(
            load(&m.bytes, 0, &ValType::String, &mut budget()),
            Err(AbiError::OutOfBounds {
                ptr: 252,
                len: 5,
                memory: 256
            })
        ));
        // A pointer near 4 GiB and a length that would wrap in 32 bits.
        m.bytes[0..4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&0x20u32.to_le_bytes());
        assert!(matches!(
            load(&m.bytes, 0, &ValType::String, &mut budget()),
            Err(AbiError::OutOfBounds { .. })
        ));
        // A list whose byte length overflows 32 bits.
        let list = ValType::List(Box::new(ValType::U64));
        m.bytes[0..4].copy_from_slice(&8u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&0x2000_0001u32.to_le_bytes());
        assert!(matches!(
            load(&m.bytes, 0, &list, &mut budget()),
            Err(AbiError::OutOfBounds { .. })
        ));
        // The value itself past the end.
        assert!(matches!(
            load(&m.bytes, 252, &ValType::String, &mut budget()),
            Err(AbiError::OutOfBounds {
                ptr: 252,
                len: 8,
                ..
            })
        ));
    }

    #[test]
    fn lists_check_alignment_and_the_budget() {
        let list = ValType::List(Box::new(ValType::U32));
        round_trip(
            &list,
            Val::List(vec![Val::U32(1), Val::U32(2), Val::U32(3)]),
        );
        let mut m = memory(4096);
        // Elements misaligned.
        m.bytes[0..4].copy_from_slice(&66u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            load(&m.bytes, 0, &list, &mut budget()),
            Err(AbiError::Misaligned { ptr: 66, align: 4 })
        );
        // The value's own pointer misaligned.
        assert_eq!(
            load(&m.bytes, 2, &list, &mut budget()),
            Err(AbiError::Misaligned { ptr: 2, align: 4 })
        );
        // 1,000 elements against a budget of 100 bytes: each costs the
        // host a value, more than its 4 bytes.
        m.bytes[0..4].copy_from_slice(&64u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&1000u32.to_le_bytes());
        let value = std::mem::size_of::<Val>() as u64;
        assert!(value > 4);
        assert_eq!(
            load(&m.bytes, 0, &list, &mut Budget::new(100)),
            Err(AbiError::TooLarge {
                requested: 1000 * value,
                limit: 100
            })
        );
        // A list of a million empty tuples takes no memory but costs
        // the budget.
        let empty = ValType::List(Box::new(ValType::Tuple(vec![])));
        m.bytes[4..8].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(matches!(
            load(&m.bytes, 0, &empty, &mut Budget::new(1000)),
            Err(AbiError::TooLarge { .. })
        ));
    }

    #[test]
    fn records_variants_and_flags_round_trip() {
        let record = ValType::Record(vec![
            ("a".into(), ValType::U8),
            ("b".into(), ValType::String),
            ("c".into(), ValType::Option(Box::new(ValType::U64))),
        ]);
        round_trip(
            &record,
            Val::Record(vec![
                Val::U8(9),
                Val::String("x".into()),
                Val::Variant(1, Some(Box::new(Val::U64(7)))),
            ]),
        );
        let result = ValType::Result {
            ok: Some(Box::new(ValType::List(Box::new(ValType::U8)))),
            err: None,
        };
        round_trip(
            &result,
            Val::Variant(0, Some(Box::new(Val::Bytes(vec![1])))),
        );
        round_trip(&result, Val::Variant(1, None));
        let e = ValType::Enum((0..300).map(|i| format!("c{i}")).collect());
        round_trip(&e, Val::Variant(299, None));
        let flags = ValType::Flags((0..40).map(|i| format!("f{i}")).collect());
        let set: Vec<bool> = (0..40).map(|i| i % 3 == 0).collect();
        round_trip(&flags, Val::Flags(set));
        round_trip(&ValType::Own(0), Val::Handle(5));
    }

    #[test]
    fn a_bad_discriminant_is_an_error() {
        let mut m = memory(64);
        m.bytes[0] = 2;
        let option = ValType::Option(Box::new(ValType::U8));
        assert_eq!(
            load(&m.bytes, 0, &option, &mut budget()),
            Err(AbiError::InvalidDiscriminant { value: 2, cases: 2 })
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_stored() {
        let mut m = memory(64);
        assert_eq!(
            store(&mut m, 0, &ValType::U32, &Val::S32(1), &mut budget()),
            Err(AbiError::TypeMismatch { expected: "u32" })
        );
        let option = ValType::Option(Box::new(ValType::U8));
        assert!(store(&mut m, 0, &option, &Val::Variant(1, None), &mut budget()).is_err());
        assert!(store(&mut m, 0, &option, &Val::Variant(5, None), &mut budget()).is_err());
    }

    #[test]
    fn a_realloc_that_returns_a_bad_block_is_an_error() {
        struct Liar(Vec<u8>);
        impl GuestMemory for Liar {
            fn bytes(&self) -> &[u8] {
                &self.0
            }
            fn bytes_mut(&mut self) -> &mut [u8] {
                &mut self.0
            }
            fn alloc(&mut self, _: u32, _: u32) -> Result<u32, AbiError> {
                Ok(60)
            }
        }
        let mut m = Liar(vec![0; 64]);
        assert!(matches!(
            store(
                &mut m,
                0,
                &ValType::String,
                &Val::String("too long".into()),
                &mut budget()
            ),
            Err(AbiError::OutOfBounds {
                ptr: 60,
                len: 8,
                ..
            })
        ));
        let list = ValType::List(Box::new(ValType::U64));
        assert_eq!(
            store(
                &mut m,
                0,
                &list,
                &Val::List(vec![Val::U64(1)]),
                &mut budget()
            ),
            Err(AbiError::Misaligned { ptr: 60, align: 8 })
        );
    }

    /// A memory that records what is allocated from it.
    struct Recording {
        inner: TestMemory,
        asked: Vec<(u32, u32)>,
    }

    impl GuestMemory for Recording {
        fn bytes(&self) -> &[u8] {
            &self.inner.bytes
        }
        fn bytes_mut(&mut self) -> &mut [u8] {
            &mut self.inner.bytes
        }
        fn alloc(&mut self, align: u32, size: u32) -> Result<u32, AbiError> {
            self.asked.push((align, size));
            self.inner.alloc(align, size)
        }
    }

    #[test]
    fn the_allocation_plan_is_what_storing_allocates() {
        let strings = ValType::List(Box::new(ValType::String));
        let entry = ValType::Tuple(vec![ValType::String, ValType::String]);
        let nested = ValType::Result {
            ok: Some(Box::new(ValType::List(Box::new(entry.clone())))),
            err: Some(Box::new(ValType::String)),
        };
        let cases = [
            (
                strings.clone(),
                Val::List(vec![Val::String("ab".into()), Val::String("".into())]),
            ),
            (ValType::List(Box::new(ValType::U8)), Val::Bytes(vec![7; 9])),
            (
                nested.clone(),
                Val::Variant(
                    0,
                    Some(Box::new(Val::List(vec![Val::Record(vec![
                        Val::String("k".into()),
                        Val::String("value".into()),
                    ])]))),
                ),
            ),
            (
                nested,
                Val::Variant(1, Some(Box::new(Val::String("no".into())))),
            ),
            (
                ValType::Option(Box::new(ValType::String)),
                Val::Variant(0, None),
            ),
        ];
        for (ty, value) in cases {
            let mut m = Recording {
                inner: memory(4096),
                asked: Vec::new(),
            };
            store(&mut m, 64, &ty, &value, &mut budget()).unwrap();
            assert_eq!(
                allocations(&ty, &value, StringEncoding::Utf8),
                m.asked,
                "{ty:?}"
            );
        }
        assert_eq!(
            allocations(
                &strings,
                &Val::List(vec![Val::String("abc".into())]),
                StringEncoding::Utf8
            ),
            [(4, 8), (1, 3)]
        );
    }

    #[test]
    fn utf16_strings_are_code_units_aligned_to_two() {
        let utf16 = || budget().with_encoding(StringEncoding::Utf16);
        let text = Val::String("hé𝄞".into());
        let mut m = Recording {
            inner: memory(4096),
            asked: Vec::new(),
        };
        store(&mut m, 0, &ValType::String, &text, &mut utf16()).unwrap();
        // h, é, and the surrogate pair: 4 units, 8 bytes.
        assert_eq!(m.asked, [(2, 8)]);
        assert_eq!(
            allocations(&ValType::String, &text, StringEncoding::Utf16),
            [(2, 8)]
        );
        let bytes = &m.inner.bytes;
        assert_eq!(&bytes[4..8], &4u32.to_le_bytes());
        let data = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        assert_eq!(&bytes[data..data + 4], &[b'h', 0, 0xe9, 0]);
        assert_eq!(
            load(bytes, 0, &ValType::String, &mut utf16()),
            Ok(text.clone())
        );
        // An unpaired surrogate, and a misaligned pointer.
        let mut m = memory(64);
        m.bytes[16..18].copy_from_slice(&0xd800u16.to_le_bytes());
        m.bytes[0..4].copy_from_slice(&16u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            load(&m.bytes, 0, &ValType::String, &mut utf16()),
            Err(AbiError::InvalidUtf16)
        );
        m.bytes[0..4].copy_from_slice(&17u32.to_le_bytes());
        assert_eq!(
            load(&m.bytes, 0, &ValType::String, &mut utf16()),
            Err(AbiError::Misaligned { ptr: 17, align: 2 })
        );
        // Past the end of memory: 2 bytes a unit.
        m.bytes[0..4].copy_from_slice(&60u32.to_le_bytes());
        m.bytes[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            load(&m.bytes, 0, &ValType::String, &mut utf16()),
            Err(AbiError::OutOfBounds {
                ptr: 60,
                len: 6,
                memory: 64
            })
        );
    }

    #[test]
    fn latin1_or_utf16_strings_say_which_by_the_lengths_top_bit() {
        let compact = || budget().with_encoding(StringEncoding::CompactUtf16);
        let mut m = memory(4096);
        // Latin-1 fits: one byte a character, the length untagged.
        let latin1 = Val::String("café".into());
        store(&mut m, 0, &ValType::String, &latin1, &mut compact()).unwrap();
        assert_eq!(&m.bytes[4..8], &4u32.to_le_bytes());
        let data = u32::from_le_bytes(m.bytes[0..4].try_into().unwrap()) as usize;
        assert_eq!(&m.bytes[data..data + 4], b"caf\xe9");
        assert_eq!(
            load(&m.bytes, 0, &ValType::String, &mut compact()),
            Ok(latin1)
        );
        // Past Latin-1: UTF-16, the length tagged.
        let wide = Val::String("€1".into());
        store(&mut m, 8, &ValType::String, &wide, &mut compact()).unwrap();
        assert_eq!(&m.bytes[12..16], &(2u32 | 1 << 31).to_le_bytes());
        assert_eq!(
            allocations(&ValType::String, &wide, StringEncoding::CompactUtf16),
            [(2, 4)]
        );
        assert_eq!(
            load(&m.bytes, 8, &ValType::String, &mut compact()),
            Ok(wide)
        );
    }
}
