//! The crate's layering, read from its sources: loading sits below
//! running. What loads and describes a module (`module/`, the linker's
//! definitions, values, errors, the type registry and what they use)
//! imports nothing of instances, regions or builtins; and the only import
//! circles are inside `instance/`, whose files are one layer.

use std::path::Path;

use layer_check::ImportGraph;

fn graph() -> ImportGraph {
    ImportGraph::of_library(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .expect("the crate's sources parse")
}

/// The running layer: instances (with their regions, host calls and
/// link-time binding), the builtins generated code calls, and the public
/// loading entry points that hand the builtins to the loader.
fn is_running_layer(file: &str) -> bool {
    file.starts_with("instance/") || file == "builtins.rs" || file == "load.rs"
}

#[test]
fn loading_imports_nothing_of_running() {
    let graph = graph();
    let lower: Vec<&str> = graph
        .files()
        .filter(|f| {
            f.starts_with("module/")
                || matches!(
                    *f,
                    "linker.rs" | "val.rs" | "error.rs" | "type_registry.rs" | "host_roots.rs"
                )
        })
        .collect();
    assert!(lower.contains(&"module/mod.rs") && lower.contains(&"linker.rs"));
    let mut violations = Vec::new();
    for file in lower {
        for reached in graph.reachable_from(file) {
            if is_running_layer(&reached) {
                let chain = graph.chain(file, &reached).unwrap_or_default();
                violations.push(chain.join(" -> "));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the loading layer reaches the running layer:\n{}",
        violations.join("\n")
    );
}

#[test]
fn import_circles_stay_inside_instance() {
    let outside: Vec<Vec<String>> = graph()
        .cycles()
        .into_iter()
        .filter(|c| !c.iter().all(|f| f.starts_with("instance/")))
        .collect();
    assert!(
        outside.is_empty(),
        "import circles outside instance/: {outside:?}"
    );
}

#[test]
fn the_graph_sees_imports() {
    // The rule is only as good as the graph: it must see a plain `use`, a
    // re-export through lib.rs and a path written in code.
    let graph = graph();
    let module = graph.imports("module/mod.rs");
    assert!(module.contains("error.rs"), "{module:?}");
    assert!(module.contains("module/imports.rs"), "{module:?}");
    let handle = graph.imports("instance/handle.rs");
    assert!(handle.contains("instance/result.rs"), "{handle:?}");
    assert!(graph.imports("load.rs").contains("builtins.rs"));
    assert!(graph
        .reachable_from("builtins.rs")
        .contains("instance/mod.rs"));
}
