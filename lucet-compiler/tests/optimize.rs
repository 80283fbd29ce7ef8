//! The guarded mid-end: `--opt-level speed` never lets Cranelift's e-graph
//! pass blow up straight-line code (an unrolled Keccak-f, the shape of
//! real hash and cipher code).

use lucet_compiler::{CompileOptions, Compiler, OptLevel};

/// Keccak-f[1600], 24 rounds unrolled into one function over locals.
fn unrolled_keccak() -> String {
    const ROT: [[u32; 5]; 5] = [
        [0, 36, 3, 41, 18],
        [1, 44, 10, 45, 2],
        [62, 6, 43, 15, 61],
        [28, 55, 25, 21, 56],
        [27, 20, 39, 8, 14],
    ];
    // Locals after the pointer parameter: a[25], b[25], c[5], d[5].
    let a = |i: usize| 1 + i;
    let b = |i: usize| 26 + i;
    let c = |i: usize| 51 + i;
    let d = |i: usize| 56 + i;
    let mut m = String::from("(module (memory 1) (func (export \"keccak\") (param i32) (local");
    m.push_str(&" i64".repeat(60));
    m.push_str(")\n");
    for i in 0..25 {
        m += &format!(
            "(local.set {} (i64.load offset={} (local.get 0)))\n",
            a(i),
            8 * i
        );
    }
    for round in 0..24u64 {
        for x in 0..5 {
            m += &format!(
                "(local.set {} (i64.xor (i64.xor (i64.xor (i64.xor (local.get {}) (local.get {})) (local.get {})) (local.get {})) (local.get {})))\n",
                c(x), a(x), a(x + 5), a(x + 10), a(x + 15), a(x + 20)
            );
        }
        for x in 0..5 {
            m += &format!(
                "(local.set {} (i64.xor (local.get {}) (i64.rotl (local.get {}) (i64.const 1))))\n",
                d(x),
                c((x + 4) % 5),
                c((x + 1) % 5)
            );
        }
        for i in 0..25 {
            m += &format!(
                "(local.set {} (i64.xor (local.get {}) (local.get {})))\n",
                a(i),
                a(i),
                d(i % 5)
            );
        }
        for (x, rotations) in ROT.iter().enumerate() {
            for (y, rotation) in rotations.iter().enumerate() {
                m += &format!(
                    "(local.set {} (i64.rotl (local.get {}) (i64.const {rotation})))\n",
                    b(y * 5 + (2 * x + 3 * y) % 5),
                    a(x + 5 * y),
                );
            }
        }
        for x in 0..5 {
            for y in 0..5 {
                m += &format!(
                    "(local.set {} (i64.xor (local.get {}) (i64.and (i64.xor (local.get {}) (i64.const -1)) (local.get {}))))\n",
                    a(x + 5 * y),
                    b(x + 5 * y),
                    b((x + 1) % 5 + 5 * y),
                    b((x + 2) % 5 + 5 * y)
                );
            }
        }
        m += &format!(
            "(local.set {} (i64.xor (local.get {}) (i64.const {})))\n",
            a(0),
            a(0),
            round * 7919 + 1
        );
    }
    for i in 0..25 {
        m += &format!(
            "(i64.store offset={} (local.get 0) (local.get {}))\n",
            8 * i,
            a(i)
        );
    }
    m.push_str("))");
    m
}

fn code_size(opt_level: OptLevel, wat: &str) -> usize {
    let compiler = Compiler::new(CompileOptions {
        opt_level,
        ..CompileOptions::default()
    })
    .expect("compiler");
    compiler
        .compile(wat.as_bytes())
        .expect("compile")
        .code_size()
}

#[test]
fn speed_does_not_blow_up_straight_line_code() {
    let wat = unrolled_keccak();
    let none = code_size(OptLevel::None, &wat);
    let speed = code_size(OptLevel::Speed, &wat);
    // Unguarded, the pass makes this function 35% larger (and twice as
    // many xors); guarded, it is compiled as without the pass.
    assert!(
        speed as f64 <= none as f64 * 1.05,
        "speed: {speed} bytes, none: {none} bytes"
    );
}
