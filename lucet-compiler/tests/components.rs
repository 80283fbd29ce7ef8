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
fn a_component_compiles_to_one_module_with_its_interface_recorded() {
    use lucet_component::{LowerKind, ResourceName, ValType};
    let compiler = Compiler::new(Default::default()).unwrap();
    let compiled = compiler.compile(&example("hello-cli.wasm")).unwrap();
    let abi = compiled
        .metadata()
        .component
        .clone()
        .expect("a component's interface");
    let lower = |name: &str| {
        abi.lowers
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", abi.lowers))
    };
    let resource = |ty: &ValType| match ty {
        ValType::Own(r) | ValType::Borrow(r) => abi.resources[*r as usize].clone(),
        other => panic!("{other:?}"),
    };
    // A function returning a handle, named by the interface that defines
    // its resource.
    let get_stdout = lower("get-stdout");
    assert!(get_stdout.module.starts_with("wasi:cli/stdout@0.2."));
    assert!(!get_stdout.allocates);
    assert_eq!(
        resource(get_stdout.signature.result.as_ref().unwrap()),
        ResourceName {
            interface: get_stdout.module.replace("cli/stdout", "io/streams"),
            name: "output-stream".into(),
        }
    );
    // One returning strings allocates; its adapter does.
    let args = lower("get-arguments");
    assert_eq!(
        args.signature.result,
        Some(ValType::List(Box::new(ValType::String)))
    );
    assert!(args.allocates);
    // A method takes a borrow of its resource first.
    let write = lower("[method]output-stream.write");
    assert!(matches!(write.signature.params[0].1, ValType::Borrow(_)));
    assert_eq!(
        write.signature.params[1].1,
        ValType::List(Box::new(ValType::U8))
    );
    // Resource drops are imports too.
    let drop = lower("[resource-drop]output-stream");
    assert!(matches!(drop.kind, LowerKind::ResourceDrop { .. }));
    // The command's entry is lifted and exported, with its type.
    assert_eq!(abi.lifts.len(), 1);
    assert!(abi.lifts[0].export.starts_with("wasi:cli/run@0.2."));
    assert_eq!(
        abi.lifts[0].signature.result,
        Some(ValType::Result {
            ok: None,
            err: None
        })
    );
    let exports: Vec<&str> = compiled
        .metadata()
        .exports
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        exports.contains(&abi.lifts[0].export.as_str()),
        "{exports:?}"
    );

    let compiled = compiler.compile(&example("hello-http.wasm")).unwrap();
    let abi = compiled.metadata().component.clone().unwrap();
    assert_eq!(abi.lifts.len(), 1);
    let handle = &abi.lifts[0];
    assert!(handle.export.starts_with("wasi:http/incoming-handler@0.2."));
    let params: Vec<String> = handle
        .signature
        .params
        .iter()
        .map(|(_, t)| match t {
            ValType::Own(r) => abi.resources[*r as usize].name.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(params, ["incoming-request", "response-outparam"]);
}

#[test]
fn what_is_not_supported_yet_is_one_clear_error() {
    let compiler = Compiler::new(Default::default()).unwrap();
    // A resource of the component's own.
    let own_resource = r#"(component
        (type $r (resource (rep i32)))
        (core func $new (canon resource.new $r))
        (core module $m (import "" "new" (func (param i32) (result i32))))
        (core instance (instantiate $m (with "" (instance (export "new" (func $new))))))
    )"#;
    match compiler.compile(own_resource.as_bytes()) {
        Err(e @ Error::Component(_)) => {
            let text = e.to_string();
            assert!(text.contains("resource.new"), "{text}");
            assert!(text.contains("not support"), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
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

#[test]
fn the_core_instance_graph_resolves_every_import() {
    use lucet_compiler::{core_graph, Canonical, CoreDef};
    for file in ["hello-cli.wasm", "hello-http.wasm"] {
        let bytes = example(file);
        describe_component(&bytes).unwrap();
        let graph = core_graph(&bytes).unwrap();
        assert!(graph.instantiations.len() >= 3, "{file}: {graph:?}");
        for (i, inst) in graph.instantiations.iter().enumerate() {
            for (module, name, def) in &inst.imports {
                match def {
                    // An earlier instance's export...
                    CoreDef::Export { instance, .. } => {
                        assert!(
                            *instance < i,
                            "{file}: {module}.{name} of [{i}] from [{instance}]"
                        )
                    }
                    // ... or a lowered host function or resource operation.
                    CoreDef::Canonical(c) => assert!(
                        matches!(
                            graph.canonicals[*c],
                            Canonical::Lower { .. } | Canonical::Resource { .. }
                        ),
                        "{file}: {module}.{name}: {:?}",
                        graph.canonicals[*c]
                    ),
                }
            }
        }
        // One export lifted, from the first module's instance (the app).
        let lifts: Vec<&CoreDef> = graph
            .canonicals
            .iter()
            .filter_map(|c| match c {
                Canonical::Lift { core, .. } => Some(core),
                _ => None,
            })
            .collect();
        assert_eq!(lifts.len(), 1, "{file}");
        let CoreDef::Export { instance, name } = lifts[0] else {
            panic!("{file}: {:?}", lifts[0]);
        };
        assert_eq!(graph.instantiations[*instance].module, 0, "{file}");
        let expected = if file == "hello-cli.wasm" {
            "wasi:cli/run@0.2."
        } else {
            "wasi:http/incoming-handler@0.2."
        };
        assert!(name.starts_with(expected), "{file}: {name}");
    }
    // The last module instantiated (the fixup) fills the shim's table of
    // indirect calls: its imports are that table, an export of the shim's
    // instance, and lowered host functions.
    let graph = core_graph(&example("hello-cli.wasm")).unwrap();
    let fixup = graph.instantiations.last().unwrap();
    assert!(fixup
        .imports
        .iter()
        .any(|(_, name, def)| name == "$imports" && matches!(def, CoreDef::Export { .. })));
    assert!(fixup
        .imports
        .iter()
        .filter(|(_, name, _)| name != "$imports")
        .all(|(_, _, def)| matches!(def, CoreDef::Canonical(_))));
}
