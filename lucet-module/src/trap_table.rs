//! The trap table: every instruction of `.text` that may trap, and why,
//! searched where it lies in the file (no decoding at load).
//!
//! Layout of the `.lucet_traps` section, for `n` sites sorted by offset:
//! `n` little-endian `u32` offsets from the start of `.text`, then `n` bytes,
//! each a [`TrapCode::number`].

use crate::{Error, TrapCode};

/// ELF section holding the trap table.
pub const TRAP_SECTION: &str = ".lucet_traps";

/// A trap table over its section's bytes.
#[derive(Debug, Clone, Copy)]
pub struct TrapTable<'a> {
    offsets: &'a [u8],
    codes: &'a [u8],
}

impl<'a> TrapTable<'a> {
    /// The table in `bytes` (constant time: only the size is checked; a
    /// site whose code byte is unknown reads as [`TrapCode::Unknown`], and
    /// one out of order can only be missed by a search, never misread).
    pub fn new(bytes: &'a [u8]) -> Result<TrapTable<'a>, Error> {
        if bytes.len() % 5 != 0 {
            return Err(Error::InvalidFile("bad trap table size".into()));
        }
        let (offsets, codes) = bytes.split_at(bytes.len() / 5 * 4);
        Ok(TrapTable { offsets, codes })
    }

    /// The section's bytes for `sites`, which must be sorted by offset.
    pub fn encode(sites: &[(u32, TrapCode)]) -> Vec<u8> {
        debug_assert!(sites.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut out = Vec::with_capacity(sites.len() * 5);
        for (offset, _) in sites {
            out.extend_from_slice(&offset.to_le_bytes());
        }
        out.extend(sites.iter().map(|(_, code)| code.number() as u8));
        out
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    fn offset(&self, i: usize) -> u32 {
        u32::from_le_bytes(self.offsets[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
    }

    fn code(&self, i: usize) -> TrapCode {
        TrapCode::from_number(u32::from(self.codes[i])).unwrap_or(TrapCode::Unknown)
    }

    /// The first site at or after `offset` (binary search).
    fn lower_bound(&self, offset: u32) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.offset(mid) < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The trap of the instruction at `text_offset`, if it may trap.
    pub fn lookup(&self, text_offset: u32) -> Option<TrapCode> {
        let i = self.lower_bound(text_offset);
        (i < self.len() && self.offset(i) == text_offset).then(|| self.code(i))
    }

    /// The sites in `start..end` of `.text`, in order.
    pub fn in_range(&self, start: u32, end: u32) -> impl Iterator<Item = (u32, TrapCode)> + '_ {
        (self.lower_bound(start)..self.len())
            .map(|i| (self.offset(i), self.code(i)))
            .take_while(move |(o, _)| *o < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sites_where_they_lie() {
        let sites = [
            (4, TrapCode::HeapOutOfBounds),
            (9, TrapCode::Unreachable),
            (9000, TrapCode::IntegerDivisionByZero),
        ];
        let bytes = TrapTable::encode(&sites);
        let t = TrapTable::new(&bytes).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(9), Some(TrapCode::Unreachable));
        assert_eq!(t.lookup(9000), Some(TrapCode::IntegerDivisionByZero));
        assert_eq!(t.lookup(5), None);
        assert_eq!(t.lookup(u32::MAX), None);
        assert_eq!(t.in_range(5, 9001).count(), 2);
        assert_eq!(t.in_range(0, 4).count(), 0);
        assert!(TrapTable::new(&bytes[1..]).is_err());
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() = 0xee;
        assert_eq!(
            TrapTable::new(&bad).unwrap().lookup(9000),
            Some(TrapCode::Unknown)
        );
        assert!(TrapTable::new(&[]).unwrap().lookup(0).is_none());
    }
}
