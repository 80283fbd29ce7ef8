//! The crate's layering, read from its sources: no import circles; the
//! server core knows handler ABIs only through the ABI registry
//! (`abi/mod.rs`), never one ABI's own files; and what engines see (the
//! engine trait, requests, routes) and Lucet's engine know no ABI at all,
//! so that an ABI is written once for every engine.

use std::path::Path;

use layer_check::ImportGraph;

fn graph() -> ImportGraph {
    ImportGraph::of_library(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .expect("the crate's sources parse")
}

#[test]
fn no_import_circles() {
    let cycles = graph().cycles();
    assert!(cycles.is_empty(), "import circles: {cycles:#?}");
}

#[test]
fn the_core_knows_abis_only_through_their_registry() {
    let graph = graph();
    let mut violations = Vec::new();
    for file in graph.files().filter(|f| !f.starts_with("abi/")) {
        for imported in graph.imports(file) {
            if imported.starts_with("abi/") && imported != "abi/mod.rs" {
                violations.push(format!("{file} imports {imported}"));
            }
        }
    }
    for file in [
        "engine.rs",
        "request.rs",
        "route.rs",
        "run.rs",
        "lucet_engine.rs",
    ] {
        for reached in graph.reachable_from(file) {
            if reached.starts_with("abi/") {
                let chain = graph.chain(file, &reached).unwrap_or_default();
                violations.push(chain.join(" -> "));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // The rule sees imports: the registry dispatches to WAGI.
    assert!(graph.imports("abi/mod.rs").contains("abi/wagi.rs"));
    assert!(graph.imports("workers.rs").contains("app.rs"));
}
