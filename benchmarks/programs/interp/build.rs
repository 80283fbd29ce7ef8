//! Encodes the program the interpreter runs.

fn main() {
    let wat = std::fs::read_to_string("src/program.wat").expect("read src/program.wat");
    let wasm = wat::parse_str(&wat).expect("a valid program");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("program.wasm"), wasm).expect("write program.wasm");
    println!("cargo::rerun-if-changed=src/program.wat");
}
