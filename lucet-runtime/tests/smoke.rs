use lucet_compiler::{CompileOptions, Compiler};
use lucet_runtime::*;

#[test]
fn fac() {
    let c = Compiler::new(CompileOptions::default()).unwrap();
    let elf = c
        .compile(include_bytes!("../../examples/fac.wat"))
        .unwrap()
        .to_elf()
        .unwrap();
    let module = Module::from_bytes(&elf, "fac", &Linker::new()).unwrap();
    let region = MmapRegion::create(2, &Limits::default()).unwrap();
    let mut inst = region.new_instance(module).unwrap();
    let r = inst
        .run("fac", &[Val::I64(10)])
        .unwrap()
        .returned()
        .unwrap();
    assert_eq!(r, vec![Val::I64(3628800)]);
}
