//! The instruction sets compiled files are for.

use serde::{Deserialize, Serialize};

/// The instruction set of a compiled file's code (always 64-bit Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    /// x86_64, System V.
    X86_64,
    /// 64-bit Arm (AArch64), AAPCS64.
    Aarch64,
}

impl Arch {
    /// Every architecture, in the order tools list them.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture this program was built for, if it is one of ours.
    pub const fn host() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// Its name, as Rust's `target_arch` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Its Linux target triple, as `lucetc --target` takes it.
    pub const fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The architecture of a target triple (`x86_64-unknown-linux-gnu`,
    /// `aarch64-unknown-linux-gnu`, or just the architecture's name).
    pub fn from_triple(triple: &str) -> Option<Arch> {
        Arch::ALL
            .into_iter()
            .find(|a| triple == a.triple() || triple == a.name())
    }

    /// Its ELF `e_machine`.
    pub const fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Aarch64 => 183,
        }
    }

    /// The architecture of an ELF `e_machine`, if it is one of ours.
    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_triples_and_machines_round_trip() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_triple(a.triple()), Some(a));
            assert_eq!(Arch::from_triple(a.name()), Some(a));
            assert_eq!(Arch::from_elf_machine(a.elf_machine()), Some(a));
        }
        assert_eq!(Arch::from_triple("riscv64gc-unknown-linux-gnu"), None);
        assert_eq!(Arch::from_elf_machine(3), None);
        assert!(Arch::host().is_some());
    }
}
