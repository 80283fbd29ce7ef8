//! `include/lucet.h` is what cbindgen makes of the crate today.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen cannot generate the header")
        .write(&mut generated);
    let path = dir.join("include/lucet.h");
    let checked_in = std::fs::read(&path).unwrap_or_default();
    if generated == checked_in {
        return;
    }
    if std::env::var_os("LUCET_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("cannot write include/lucet.h");
        return;
    }
    panic!(
        "include/lucet.h differs from what cbindgen generates from the crate; \
         regenerate it with\n    LUCET_BLESS=1 cargo test -p lucet-runtime-c --test header\n\
         and commit the result"
    );
}
