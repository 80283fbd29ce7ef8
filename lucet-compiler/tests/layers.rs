//! The crate's files import each other without circles: each file's
//! imports could be read before it.

use std::path::Path;

use layer_check::ImportGraph;

#[test]
fn no_import_circles() {
    let graph = ImportGraph::of_library(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .expect("the crate's sources parse");
    let cycles = graph.cycles();
    assert!(cycles.is_empty(), "import circles: {cycles:#?}");
}
