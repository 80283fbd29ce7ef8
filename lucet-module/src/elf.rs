//! The little of ELF64 the loader reads: the file header and the section
//! headers with their names. Every offset and size is checked against the
//! file before it is followed; nothing else (symbols, string tables of
//! symbols, relocations) is parsed, so reading a file costs the same
//! whatever the number of functions in it.

use crate::{Arch, Error};

const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const SHDR_SIZE: usize = 64;
/// Section type of relocations with addends.
pub const SHT_RELA: u32 = 4;
/// Section type of relocations without addends.
pub const SHT_REL: u32 = 9;
/// Section type of a section with no bytes in the file.
pub const SHT_NOBITS: u32 = 8;

fn invalid(msg: &str) -> Error {
    Error::InvalidFile(msg.to_string())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// One section header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section<'a> {
    /// Its name.
    pub name: &'a [u8],
    /// `sh_type`.
    pub kind: u32,
    /// `sh_info` (for relocations: the section they apply to).
    pub info: u32,
    /// Offset in the file.
    pub offset: u64,
    /// Size in the file (0 for `SHT_NOBITS`).
    pub size: u64,
}

/// The section headers of a little-endian ELF64 file for one of our
/// architectures.
#[derive(Debug)]
pub struct SectionTable<'a> {
    /// The header's `e_machine`.
    pub arch: Arch,
    sections: Vec<Section<'a>>,
}

impl<'a> SectionTable<'a> {
    /// Reads the section headers of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<SectionTable<'a>, Error> {
        if !bytes.starts_with(b"\x7fELF") {
            return Err(invalid("not an ELF file"));
        }
        if bytes.len() < 64 {
            return Err(invalid("malformed ELF: the header is truncated"));
        }
        let arch = Arch::from_elf_machine(u16_at(bytes, 18));
        let Some(arch) = arch.filter(|_| bytes[4] == ELFCLASS64 && bytes[5] == ELFDATA2LSB) else {
            return Err(invalid(
                "not a 64-bit little-endian ELF file for x86_64 or aarch64",
            ));
        };
        let shoff = u64_at(bytes, 40);
        let shentsize = u16_at(bytes, 58) as usize;
        let shnum = u16_at(bytes, 60) as usize;
        let shstrndx = u16_at(bytes, 62) as usize;
        if shentsize != SHDR_SIZE || shnum == 0 || shstrndx >= shnum {
            return Err(invalid("malformed ELF: bad section header table"));
        }
        let table = usize::try_from(shoff)
            .ok()
            .and_then(|start| Some(start..start.checked_add(shnum * SHDR_SIZE)?))
            .and_then(|r| bytes.get(r))
            .ok_or_else(|| invalid("malformed ELF: the section headers lie past the end"))?;
        let header = |i: usize| &table[i * SHDR_SIZE..(i + 1) * SHDR_SIZE];
        let raw = |i: usize| {
            let h = header(i);
            (
                u32_at(h, 0),
                u32_at(h, 4),
                u64_at(h, 24),
                u64_at(h, 32),
                u32_at(h, 44),
            )
        };
        let contents = |offset: u64, size: u64, kind: u32| -> Result<&'a [u8], Error> {
            if kind == SHT_NOBITS {
                return Ok(&[]);
            }
            usize::try_from(offset)
                .ok()
                .zip(usize::try_from(size).ok())
                .and_then(|(o, s)| bytes.get(o..o.checked_add(s)?))
                .ok_or_else(|| {
                    invalid("a section extends past the end of the file (truncated file?)")
                })
        };
        let (_, kind, offset, size, _) = raw(shstrndx);
        let names = contents(offset, size, kind)?;
        let mut sections = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let (name_at, kind, offset, size, info) = raw(i);
            contents(offset, size, kind)?;
            let name = names
                .get(name_at as usize..)
                .and_then(|rest| rest.split(|&b| b == 0).next().filter(|_| rest.contains(&0)))
                .ok_or_else(|| invalid("malformed ELF: a section name lies outside its table"))?;
            sections.push(Section {
                name,
                kind,
                info,
                offset,
                size: if kind == SHT_NOBITS { 0 } else { size },
            });
        }
        Ok(SectionTable { arch, sections })
    }

    /// The first section named `name`, with its index.
    pub fn find(&self, name: &str) -> Option<(usize, &Section<'a>)> {
        self.sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name.as_bytes())
    }

    /// Every section.
    pub fn iter(&self) -> impl Iterator<Item = &Section<'a>> {
        self.sections.iter()
    }
}

/// The bytes of `s` in `bytes` (checked by [`SectionTable::parse`]).
pub fn section_bytes<'a>(bytes: &'a [u8], s: &Section<'_>) -> &'a [u8] {
    &bytes[s.offset as usize..(s.offset + s.size) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_elf64_for_our_architectures() {
        assert!(SectionTable::parse(b"").is_err());
        assert!(SectionTable::parse(b"\x7fELF").is_err());
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1; // 32-bit
        assert!(SectionTable::parse(&h).is_err());
        h[4] = 2;
        h[5] = 1;
        h[18] = 243; // RISC-V
        let err = SectionTable::parse(&h).unwrap_err().to_string();
        assert!(err.contains("for x86_64 or aarch64"), "{err}");
        h[18] = 183; // aarch64: gets as far as the section table
        let err = SectionTable::parse(&h).unwrap_err().to_string();
        assert!(err.contains("section header"), "{err}");
        h[18] = 62;
        h[58] = 64;
        h[60] = 1;
        h[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(SectionTable::parse(&h).is_err(), "offset overflow");
    }
}
