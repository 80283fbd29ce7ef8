//! Components are recognised, validated whole and described; compiling
//! one is refused with what it is. The components are the ones in
//! `examples/components/` (built by its `build.sh` with Rust's
//! `wasm32-wasip2` target).

use lucet_compiler::{describe_component, is_component, Compiler, CoreInstanceSummary, Error};

fn example(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/components")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn an_http_handler_is_described() {
    let bytes = example("hello-http.wasm");
    assert!(is_component(&bytes));
    let summary = describe_component(&bytes).unwrap();
    assert_eq!(summary.world(), "a wasi:http/proxy");
    assert!(summary.exports.iter().any(|(name, kind)| name
        .starts_with("wasi:http/incoming-handler@0.2.")
        && *kind == "instance"));
    assert!(summary
        .imports
        .iter()
        .any(|(name, _)| name.starts_with("wasi:http/types@0.2.")));
    // The app's module has the memory; the shims around it do not.
    assert_eq!(
        summary
            .core_modules
            .iter()
            .filter(|m| m.defines_memory)
            .count(),
        1
    );
    // The app's module is instantiated with the lowered host functions.
    assert!(summary.core_instances.iter().any(|i| matches!(
        i,
        CoreInstanceSummary::Instantiate { args, .. } if args.iter().any(|(n, _)| n.starts_with("wasi:http/types@"))
    )));
    assert_eq!(summary.canonical_functions.get("lift"), Some(&1));
    assert!(
        summary
            .canonical_functions
            .get("lower")
            .copied()
            .unwrap_or(0)
            > 10
    );
    let text = summary.to_string();
    assert!(
        text.contains("exports: 1\n  wasi:http/incoming-handler@0.2."),
        "{text}"
    );
}

#[test]
fn a_command_is_described() {
    let summary = describe_component(&example("hello-cli.wasm")).unwrap();
    assert_eq!(summary.world(), "a wasi:cli/command");
    assert!(summary
        .imports
        .iter()
        .any(|(name, _)| name.starts_with("wasi:cli/stdout@0.2.")));
}

#[test]
fn compiling_a_component_says_what_it_is() {
    let compiler = Compiler::new(Default::default()).unwrap();
    for (file, world) in [
        ("hello-cli.wasm", "a wasi:cli/command"),
        ("hello-http.wasm", "a wasi:http/proxy"),
    ] {
        match compiler.compile(&example(file)) {
            Err(e @ Error::Component(_)) => {
                let text = e.to_string();
                assert!(text.contains(world), "{text}");
                assert!(!text.contains('\n'), "{text}");
            }
            Err(e) => panic!("{file}: {e}"),
            Ok(_) => panic!("{file} compiled"),
        }
    }
    // The text format's components too.
    match compiler.compile(b"(component (core module))") {
        Err(Error::Component(what)) => assert_eq!(what, "exporting nothing"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn a_damaged_component_is_invalid_not_a_panic() {
    let bytes = example("hello-http.wasm");
    for cut in [9, 100, bytes.len() / 2, bytes.len() - 1] {
        let damaged = &bytes[..cut];
        assert!(is_component(damaged));
        assert!(matches!(
            describe_component(damaged),
            Err(Error::Invalid { .. })
        ));
    }
    // A byte changed inside the app's module.
    let mut changed = bytes.clone();
    let at = changed.len() / 3;
    changed[at] ^= 0xff;
    let _ = describe_component(&changed);
}
