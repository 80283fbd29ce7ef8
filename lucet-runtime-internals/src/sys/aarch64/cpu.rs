//! What this CPU can run: the architecture, and the features a compiled
//! file may need (named as `lucetc` records them, after Cranelift's ISA
//! flags).

use lucet_module::Arch;

/// The architecture this runtime runs code of.
pub const ARCH: Arch = Arch::Aarch64;

/// Whether this CPU has `feature`; unknown names are features it lacks.
pub fn has(feature: &str) -> bool {
    match feature {
        "lse" => std::arch::is_aarch64_feature_detected!("lse"),
        "pauth" => std::arch::is_aarch64_feature_detected!("paca"),
        "fp16" => std::arch::is_aarch64_feature_detected!("fp16"),
        "dotprod" => std::arch::is_aarch64_feature_detected!("dotprod"),
        "i8mm" => std::arch::is_aarch64_feature_detected!("i8mm"),
        _ => false,
    }
}
