//! The guest's linear memory as the calls use it: every pointer and length
//! comes from the guest, so every access is bounds-checked in 64 bits and
//! fails with `inval` (out of bounds) or `badalign` (a misaligned number),
//! never a fault.

use super::status::{CallResult, Status};

/// Linear memory.
pub(crate) struct Memory<'a>(pub &'a mut [u8]);

impl Memory<'_> {
    /// `len` bytes at `ptr`.
    pub fn bytes(&self, ptr: u32, len: u32) -> CallResult<&[u8]> {
        let end = u64::from(ptr) + u64::from(len);
        let end = usize::try_from(end).map_err(|_| Status::Inval)?;
        self.0.get(ptr as usize..end).ok_or(Status::Inval)
    }

    /// `len` bytes at `ptr`, to write.
    pub fn bytes_mut(&mut self, ptr: u32, len: u32) -> CallResult<&mut [u8]> {
        let end = u64::from(ptr) + u64::from(len);
        let end = usize::try_from(end).map_err(|_| Status::Inval)?;
        self.0.get_mut(ptr as usize..end).ok_or(Status::Inval)
    }

    /// The UTF-8 text of `len` bytes at `ptr`.
    pub fn str(&self, ptr: u32, len: u32) -> CallResult<&str> {
        std::str::from_utf8(self.bytes(ptr, len)?).map_err(|_| Status::Inval)
    }

    /// Writes `bytes` at `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> CallResult {
        let len = u32::try_from(bytes.len()).map_err(|_| Status::Inval)?;
        self.bytes_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// Checks that `size` bytes at `ptr` are in bounds and aligned to
    /// `size`.
    pub fn aligned_check(&mut self, ptr: u32, size: u32) -> CallResult {
        self.aligned(ptr, size).map(drop)
    }

    fn aligned(&mut self, ptr: u32, size: u32) -> CallResult<&mut [u8]> {
        if ptr % size != 0 {
            return Err(Status::Badalign);
        }
        self.bytes_mut(ptr, size)
    }

    /// Writes a little-endian `u16` at `ptr` (2-aligned).
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> CallResult {
        self.aligned(ptr, 2)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Writes a little-endian `u32` at `ptr` (4-aligned).
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> CallResult {
        self.aligned(ptr, 4)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Writes a little-endian `u64` at `ptr` (8-aligned).
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> CallResult {
        self.aligned(ptr, 8)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Checks that a `u32` can be written at `ptr`: calls that open a
    /// handle check where it goes before opening it.
    pub fn check_u32(&mut self, ptr: u32) -> CallResult {
        self.aligned(ptr, 4).map(drop)
    }

    /// Reads a little-endian `u32` at `ptr` (4-aligned).
    pub fn read_u32(&mut self, ptr: u32) -> CallResult<u32> {
        let b = self.aligned(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a little-endian `u64` at `ptr` (8-aligned).
    pub fn read_u64(&mut self, ptr: u32) -> CallResult<u64> {
        let b = self.aligned(ptr, 8)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    /// Writes `value` into the guest's buffer of `max` bytes at `ptr` and
    /// its length at `nwritten`; `buflen` (with the length needed written)
    /// if it does not fit.
    pub fn write_value(&mut self, ptr: u32, max: u32, value: &[u8], nwritten: u32) -> CallResult {
        let len = u32::try_from(value.len()).map_err(|_| Status::Buflen)?;
        if len > max {
            self.write_u32(nwritten, len)?;
            return Err(Status::Buflen);
        }
        self.write(ptr, value)?;
        self.write_u32(nwritten, len)
    }

    /// Writes values from `cursor` on, each followed by `terminator`, into
    /// the buffer of `max` bytes at `ptr`, as many as fit. Writes the bytes
    /// written at `nwritten` and, at `ending`, the cursor to continue from
    /// (or -1 when every value was written). `buflen`, with the length
    /// needed, when not even the first value fits.
    pub fn write_values<'v>(
        &mut self,
        values: impl Iterator<Item = &'v [u8]>,
        terminator: u8,
        (ptr, max): (u32, u32),
        cursor: u32,
        ending: u32,
        nwritten: u32,
    ) -> CallResult {
        let buf = self.bytes_mut(ptr, max)?;
        let mut used = 0usize;
        let mut next = cursor as u64;
        let mut finished = true;
        for value in values.skip(cursor as usize) {
            let need = value.len() + 1;
            let Some(dest) = buf.get_mut(used..used + need) else {
                if used == 0 {
                    let need = u32::try_from(need).unwrap_or(0);
                    self.write_u32(nwritten, need)?;
                    return Err(Status::Buflen);
                }
                finished = false;
                break;
            };
            dest[..value.len()].copy_from_slice(value);
            dest[value.len()] = terminator;
            used += need;
            next += 1;
        }
        let ending_cursor = if finished { -1i64 } else { next as i64 };
        self.write_u64(ending, ending_cursor as u64)?;
        self.write_u32(nwritten, used as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_and_misaligned_accesses_are_refused() {
        let mut m = vec![0u8; 64];
        let mut mem = Memory(&mut m);
        assert_eq!(mem.bytes(60, 4).map(|b| b.len()), Ok(4));
        assert_eq!(mem.bytes(61, 4), Err(Status::Inval));
        assert_eq!(mem.bytes(u32::MAX, u32::MAX), Err(Status::Inval));
        assert_eq!(mem.write_u32(2, 1), Err(Status::Badalign));
        assert_eq!(mem.write_u64(64, 1), Err(Status::Inval));
        assert_eq!(mem.str(0, 2), Ok("\0\0"));
        mem.write(0, &[0xff]).unwrap();
        assert_eq!(mem.str(0, 1), Err(Status::Inval));
    }

    #[test]
    fn a_value_that_does_not_fit_reports_its_length() {
        let mut m = vec![0u8; 64];
        let mut mem = Memory(&mut m);
        assert_eq!(mem.write_value(0, 3, b"hello", 32), Err(Status::Buflen));
        assert_eq!(mem.read_u32(32), Ok(5));
        assert_eq!(mem.write_value(0, 5, b"hello", 32), Ok(()));
        assert_eq!(&m[..5], b"hello");
    }

    #[test]
    fn values_are_written_in_pieces_from_a_cursor() {
        let mut m = vec![0u8; 64];
        let mut mem = Memory(&mut m);
        let values: [&[u8]; 3] = [b"ab", b"cde", b"f"];
        // Room for the first two (3 + 4 bytes) but not the third.
        mem.write_values(values.iter().copied(), 0, (0, 8), 0, 40, 48)
            .unwrap();
        assert_eq!(&mem.0[..7], b"ab\0cde\0");
        assert_eq!(mem.read_u32(48), Ok(7));
        assert_eq!(i64::from_le_bytes(mem.0[40..48].try_into().unwrap()), 2);
        mem.write_values(values.iter().copied(), 0, (0, 8), 2, 40, 48)
            .unwrap();
        assert_eq!(&mem.0[..2], b"f\0");
        assert_eq!(i64::from_le_bytes(mem.0[40..48].try_into().unwrap()), -1);
        // Not even one fits: buflen, with the length needed.
        assert_eq!(
            mem.write_values(values.iter().copied(), 0, (0, 2), 1, 40, 48),
            Err(Status::Buflen)
        );
        assert_eq!(mem.read_u32(48), Ok(4));
    }
}
