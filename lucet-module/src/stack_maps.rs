//! The stack map table: for every call in `.text` at which GC references
//! are live, where the calling frame keeps them, so that a collection can
//! find (and update) every reference on a guest stack. Searched where it
//! lies in the file, like the trap table.
//!
//! Layout of the `.lucet_stack_maps` section, for `n` call sites sorted by
//! return address: `n` little-endian `u32` return-address offsets from the
//! start of `.text`; then `n` `u32` indices into the words that follow;
//! then those `u32` words, each site's at its index: the frame's size (the
//! distance from its stack pointer at the call to its frame pointer), the
//! number of references, and their offsets from the stack pointer.

use crate::Error;

/// ELF section holding the stack map table.
pub const STACK_MAP_SECTION: &str = ".lucet_stack_maps";

/// One call site: its return address (an offset in `.text`), the frame's
/// size and the stack-pointer offsets of the live references.
pub type StackMapSite = (u32, u32, Vec<u32>);

/// A stack map table over its section's bytes.
#[derive(Debug, Clone, Copy)]
pub struct StackMapTable<'a> {
    sites: usize,
    bytes: &'a [u8],
}

/// The live references of one call site's frame.
#[derive(Debug, Clone, Copy)]
pub struct StackMap<'a> {
    /// From the frame's stack pointer at the call to its frame pointer.
    pub frame_size: u32,
    offsets: &'a [u8],
}

impl StackMap<'_> {
    /// The offsets of the frame's live references from its stack pointer.
    pub fn offsets(&self) -> impl Iterator<Item = u32> + '_ {
        self.offsets
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
    }
}

fn word(bytes: &[u8], i: usize) -> Option<u32> {
    let b = bytes.get(i.checked_mul(4)?..i.checked_mul(4)?.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

impl<'a> StackMapTable<'a> {
    /// The table in `bytes`: the first word is the number of sites, and the
    /// section must hold their offsets and indices. A damaged site is found
    /// when it is looked up, never misread: every read is bounds-checked
    /// and every offset must lie inside its frame.
    pub fn new(bytes: &'a [u8]) -> Result<StackMapTable<'a>, Error> {
        let bad = || Error::InvalidFile("bad stack map table".into());
        if bytes.is_empty() {
            return Ok(StackMapTable { sites: 0, bytes });
        }
        let sites = word(bytes, 0).ok_or_else(bad)? as usize;
        if bytes.len() % 4 != 0 || (bytes.len() / 4 - 1) / 2 < sites {
            return Err(bad());
        }
        Ok(StackMapTable {
            sites,
            bytes: &bytes[4..],
        })
    }

    /// The section's bytes for `sites`, which must be sorted by return
    /// address (empty when there are none).
    pub fn encode(sites: &[StackMapSite]) -> Vec<u8> {
        debug_assert!(sites.windows(2).all(|w| w[0].0 < w[1].0));
        if sites.is_empty() {
            return Vec::new();
        }
        let mut words: Vec<u32> = vec![sites.len() as u32];
        words.extend(sites.iter().map(|s| s.0));
        let mut index = 0u32;
        for (_, _, offsets) in sites {
            words.push(index);
            index += 2 + offsets.len() as u32;
        }
        for (_, frame_size, offsets) in sites {
            words.push(*frame_size);
            words.push(offsets.len() as u32);
            words.extend_from_slice(offsets);
        }
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Number of call sites.
    pub fn len(&self) -> usize {
        self.sites
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sites == 0
    }

    /// The stack map of the call returning to `text_offset`, if references
    /// are live across it. `Err` for a damaged entry.
    pub fn lookup(&self, text_offset: u32) -> Result<Option<StackMap<'a>>, Error> {
        let i = self.lower_bound(text_offset)?;
        if i == self.sites || self.return_offset(i)? != text_offset {
            return Ok(None);
        }
        self.entry(i).map(|(_, map)| Some(map))
    }

    /// The sites whose return addresses lie in `start..=end`, in order.
    pub fn in_range(
        &self,
        start: u32,
        end: u32,
    ) -> impl Iterator<Item = Result<(u32, StackMap<'a>), Error>> + '_ {
        let first = self.lower_bound(start).unwrap_or(self.sites);
        (first..self.sites)
            .map(|i| self.entry(i))
            .take_while(move |e| e.as_ref().map_or(true, |(ret, _)| *ret <= end))
    }

    fn return_offset(&self, i: usize) -> Result<u32, Error> {
        word(self.bytes, i).ok_or_else(|| Error::InvalidFile("bad stack map table".into()))
    }

    /// The first site whose return address is at or after `offset`.
    fn lower_bound(&self, offset: u32) -> Result<usize, Error> {
        let (mut lo, mut hi) = (0, self.sites);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.return_offset(mid)? < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Every site, in order of return address.
    pub fn iter(&self) -> impl Iterator<Item = Result<(u32, StackMap<'a>), Error>> + '_ {
        (0..self.sites).map(|i| self.entry(i))
    }

    /// Site `i` (below `len`): its return address and map.
    fn entry(&self, i: usize) -> Result<(u32, StackMap<'a>), Error> {
        let bad = || Error::InvalidFile("bad stack map entry".into());
        let ret = word(self.bytes, i).ok_or_else(bad)?;
        let words = self.bytes.get(self.sites * 8..).ok_or_else(bad)?;
        let at = word(self.bytes, self.sites + i).ok_or_else(bad)? as usize;
        let frame_size = word(words, at).ok_or_else(bad)?;
        let count = word(words, at + 1).ok_or_else(bad)? as usize;
        let start = (at + 2).checked_mul(4).ok_or_else(bad)?;
        let end = count
            .checked_mul(4)
            .and_then(|n| n.checked_add(start))
            .ok_or_else(bad)?;
        let offsets = words.get(start..end).ok_or_else(bad)?;
        let map = StackMap {
            frame_size,
            offsets,
        };
        if map
            .offsets()
            .any(|o| o % 8 != 0 || u64::from(o) + 8 > u64::from(frame_size))
        {
            return Err(bad());
        }
        Ok((ret, map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_round_trip_and_others_have_no_map() {
        let bytes = StackMapTable::encode(&[(16, 32, vec![0, 8]), (40, 16, vec![8])]);
        let t = StackMapTable::new(&bytes).unwrap();
        assert_eq!(t.len(), 2);
        let m = t.lookup(16).unwrap().unwrap();
        assert_eq!(m.frame_size, 32);
        assert_eq!(m.offsets().collect::<Vec<_>>(), [0, 8]);
        assert_eq!(
            t.lookup(40).unwrap().unwrap().offsets().collect::<Vec<_>>(),
            [8]
        );
        assert!(t.lookup(17).unwrap().is_none());
        assert!(t.lookup(100).unwrap().is_none());
        let all: Vec<u32> = t.iter().map(|e| e.unwrap().0).collect();
        assert_eq!(all, [16, 40]);
        assert!(StackMapTable::new(&[]).unwrap().is_empty());
    }

    #[test]
    fn damaged_tables_are_refused_not_misread() {
        let mut bytes = StackMapTable::encode(&[(16, 32, vec![0, 8])]);
        assert!(StackMapTable::new(&bytes[..6]).is_err());
        // An offset outside its frame.
        let last = bytes.len() - 4;
        bytes[last..].copy_from_slice(&40u32.to_le_bytes());
        let t = StackMapTable::new(&bytes).unwrap();
        assert!(t.lookup(16).is_err());
        // A count past the section.
        let mut bytes = StackMapTable::encode(&[(16, 32, vec![0])]);
        bytes[16..20].copy_from_slice(&1000u32.to_le_bytes());
        assert!(StackMapTable::new(&bytes).unwrap().lookup(16).is_err());
    }
}
