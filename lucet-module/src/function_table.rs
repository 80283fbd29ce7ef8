//! The per-function tables of a compiled file, kept out of the encoded
//! metadata so that loading does no work per function beyond a copy and a
//! check:
//!
//! - `.lucet_functions`: one 12-byte record per function of the index
//!   space, little-endian `u32`s: type index, code offset, code length.
//!   The loader copies it into a `Box<[FunctionSpec]>` (12 bytes per
//!   function resident) and checks every record.
//! - `.lucet_names`: the name section's function names, for traps,
//!   backtraces and tools. `n` (u32), then `n` records of function index,
//!   byte offset and byte length (u32 each, sorted by function index), then
//!   the UTF-8 bytes. It is searched where it lies, so its pages are read
//!   only when a name is shown; a record that does not resolve to a UTF-8
//!   string in bounds reads as no name.

use crate::{CodeRange, Error};

/// ELF section holding the function table.
pub const FUNCTION_SECTION: &str = ".lucet_functions";
/// ELF section holding the function names.
pub const NAME_SECTION: &str = ".lucet_names";

const RECORD: usize = 12;

/// One function of the module's function index space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionSpec {
    /// Index into [`crate::ModuleData::types`].
    pub type_index: u32,
    /// The code: the body, or for an import the stub that calls it.
    pub code: CodeRange,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// The function table section's bytes.
pub fn encode_functions(functions: &[FunctionSpec]) -> Vec<u8> {
    let mut out = Vec::with_capacity(functions.len() * RECORD);
    for f in functions {
        out.extend_from_slice(&f.type_index.to_le_bytes());
        out.extend_from_slice(&f.code.offset.to_le_bytes());
        out.extend_from_slice(&f.code.len.to_le_bytes());
    }
    out
}

/// The function table in `bytes` (its records are checked against the rest
/// of the module by `ModuleFile::parse`).
pub fn decode_functions(bytes: &[u8]) -> Result<Box<[FunctionSpec]>, Error> {
    if bytes.len() % RECORD != 0 {
        return Err(Error::InvalidFile("bad function table size".into()));
    }
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|r| FunctionSpec {
            type_index: u32_at(r, 0),
            code: CodeRange {
                offset: u32_at(r, 4),
                len: u32_at(r, 8),
            },
        })
        .collect())
}

/// The function names, over their section's bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameTable<'a> {
    records: &'a [u8],
    strings: &'a [u8],
}

impl<'a> NameTable<'a> {
    /// The table in `bytes` (constant time: only the header is checked).
    /// An empty section is an empty table.
    pub fn new(bytes: &'a [u8]) -> Result<NameTable<'a>, Error> {
        if bytes.is_empty() {
            return Ok(NameTable::default());
        }
        let bad = || Error::InvalidFile("bad name table".into());
        let n = bytes.get(..4).ok_or_else(bad)?;
        let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as u64;
        let records_end = 4 + n * RECORD as u64;
        if records_end > bytes.len() as u64 {
            return Err(bad());
        }
        let (records, strings) = bytes[4..].split_at(n as usize * RECORD);
        Ok(NameTable { records, strings })
    }

    /// The section's bytes for `names`, which must be sorted by function
    /// index.
    pub fn encode<'n>(names: impl IntoIterator<Item = (u32, &'n str)>) -> Vec<u8> {
        let names: Vec<(u32, &str)> = names.into_iter().collect();
        debug_assert!(names.windows(2).all(|w| w[0].0 < w[1].0));
        if names.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(4 + names.len() * (RECORD + 16));
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        let mut offset = 0u32;
        for (func, name) in &names {
            out.extend_from_slice(&func.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            offset += name.len() as u32;
        }
        for (_, name) in &names {
            out.extend_from_slice(name.as_bytes());
        }
        out
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The name of function `func_index`, if it has one (binary search).
    pub fn get(&self, func_index: u32) -> Option<&'a str> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match u32_at(self.records, mid * RECORD).cmp(&func_index) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let start = u32_at(self.records, mid * RECORD + 4) as usize;
                    let len = u32_at(self.records, mid * RECORD + 8) as usize;
                    let bytes = self.strings.get(start..start.checked_add(len)?)?;
                    return std::str::from_utf8(bytes).ok();
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_round_trip() {
        let fs = [
            FunctionSpec {
                type_index: 1,
                code: CodeRange { offset: 0, len: 16 },
            },
            FunctionSpec {
                type_index: u32::MAX,
                code: CodeRange {
                    offset: 16,
                    len: 0x1234_5678,
                },
            },
        ];
        let bytes = encode_functions(&fs);
        assert_eq!(bytes.len(), 24);
        assert_eq!(&*decode_functions(&bytes).unwrap(), &fs);
        assert!(decode_functions(&bytes[1..]).is_err());
        assert!(decode_functions(&[]).unwrap().is_empty());
    }

    #[test]
    fn names_are_found_where_they_lie() {
        let bytes = NameTable::encode([(0, "main"), (7, "é"), (9000, "")]);
        let t = NameTable::new(&bytes).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(0), Some("main"));
        assert_eq!(t.get(7), Some("é"));
        assert_eq!(t.get(9000), Some(""));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(u32::MAX), None);
        assert!(NameTable::new(&[]).unwrap().get(0).is_none());
        assert!(NameTable::new(&bytes[..5]).is_err());
        assert!(NameTable::new(&[9, 9, 9, 9]).is_err());
    }

    #[test]
    fn a_bad_name_record_reads_as_no_name() {
        let mut bytes = NameTable::encode([(0, "ab"), (1, "é")]);
        // Record 0's length beyond the strings.
        bytes[4 + 8..4 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        // Record 1 starts inside "é" (not UTF-8 on its own).
        bytes[4 + 12 + 4..4 + 12 + 8].copy_from_slice(&3u32.to_le_bytes());
        bytes[4 + 12 + 8..4 + 12 + 12].copy_from_slice(&1u32.to_le_bytes());
        let t = NameTable::new(&bytes).unwrap();
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(1), None);
    }
}
