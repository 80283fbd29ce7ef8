//! What this CPU can run: the architecture, and the features a compiled
//! file may need (named as `lucetc` records them, after Cranelift's ISA
//! flags).

use lucet_module::Arch;

/// The architecture this runtime runs code of.
pub const ARCH: Arch = Arch::X86_64;

/// Whether this CPU has `feature`; unknown names are features it lacks.
pub fn has(feature: &str) -> bool {
    match feature {
        "sse3" => std::is_x86_feature_detected!("sse3"),
        "ssse3" => std::is_x86_feature_detected!("ssse3"),
        "sse41" => std::is_x86_feature_detected!("sse4.1"),
        "sse42" => std::is_x86_feature_detected!("sse4.2"),
        "popcnt" => std::is_x86_feature_detected!("popcnt"),
        "avx" => std::is_x86_feature_detected!("avx"),
        "avx2" => std::is_x86_feature_detected!("avx2"),
        "fma" => std::is_x86_feature_detected!("fma"),
        "avx_vnni" => std::is_x86_feature_detected!("avxvnni"),
        "avx512vnni" => std::is_x86_feature_detected!("avx512vnni"),
        "bmi1" => std::is_x86_feature_detected!("bmi1"),
        "bmi2" => std::is_x86_feature_detected!("bmi2"),
        "lzcnt" => std::is_x86_feature_detected!("lzcnt"),
        "avx512bitalg" => std::is_x86_feature_detected!("avx512bitalg"),
        "avx512dq" => std::is_x86_feature_detected!("avx512dq"),
        "avx512vl" => std::is_x86_feature_detected!("avx512vl"),
        "avx512vbmi" => std::is_x86_feature_detected!("avx512vbmi"),
        "avx512f" => std::is_x86_feature_detected!("avx512f"),
        "cmpxchg16b" => std::is_x86_feature_detected!("cmpxchg16b"),
        _ => false,
    }
}
