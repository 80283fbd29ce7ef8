//! Runs a WebAssembly program (recursion, a sieve, a hash loop) in the
//! wasmi interpreter and prints its result: the kind of dispatch loop that
//! interpreters of every language spend their time in.

include!("../../bench.rs");

const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/program.wasm"));

fn main() {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, PROGRAM).expect("a valid program");
    let mut store = wasmi::Store::new(&engine, ());
    let linker = wasmi::Linker::<()>::new(&engine);
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .expect("instantiates");
    let run = instance
        .get_typed_func::<(), i64>(&store, "run")
        .expect("exports run");
    bench_start();
    let result = run.call(&mut store, ()).expect("runs");
    bench_end();
    println!("interp: result {result}, digest {:016x}", fnv1a(&result.to_le_bytes()));
}
