//! The import graph of a crate's source files, for tests that keep the
//! workspace's layering rules: which file imports which (through `use`
//! lines, paths written in code, and paths inside macro calls such as the
//! `sym` operands of `global_asm!`), the circles in that graph, and what a
//! file reaches.
//!
//! A path is followed through re-exports to the file that defines what it
//! names, so that `crate::Error`, re-exported by `lib.rs`, counts as an
//! import of `error.rs`. Test code (`#[cfg(test)]`) is left out: tests
//! may reach anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// Why a crate's sources could not be read.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A module path from the crate root (`[]` is the root).
type ModPath = Vec<String>;

/// A `use` of one name in a module: what it names, relative to the module.
#[derive(Debug, Clone)]
struct UseItem {
    path: Vec<String>,
    glob: bool,
}

#[derive(Debug, Default)]
struct ModuleInfo {
    /// The file the module's items are in.
    file: String,
    /// Names brought in by `use` (the alias or last segment).
    uses: HashMap<String, Vec<String>>,
    /// `use path::*`.
    globs: Vec<Vec<String>>,
    /// Names of items defined here (not modules).
    defined: BTreeSet<String>,
}

/// A path written in a file, in the module it was written in.
#[derive(Debug)]
struct Reference {
    file: String,
    module: ModPath,
    path: Vec<String>,
}

/// Which file of a crate imports which.
#[derive(Debug)]
pub struct ImportGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl ImportGraph {
    /// The graph of the library crate whose root is `src_dir/lib.rs`.
    /// Files are named by their path under `src_dir`, with `/`.
    pub fn of_library(src_dir: impl AsRef<Path>) -> Result<ImportGraph, Error> {
        let mut reader = Reader {
            src: src_dir.as_ref().to_path_buf(),
            modules: BTreeMap::new(),
            references: Vec::new(),
        };
        reader.read_module(Vec::new(), PathBuf::from("lib.rs"), true)?;
        Ok(reader.graph())
    }

    /// Every file of the crate.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.edges.keys().map(String::as_str)
    }

    /// The files `file` imports directly.
    pub fn imports(&self, file: &str) -> BTreeSet<String> {
        self.edges.get(file).cloned().unwrap_or_default()
    }

    /// The files `file` reaches through imports (not itself, unless it is
    /// in a circle).
    pub fn reachable_from(&self, file: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = vec![file];
        while let Some(f) = todo.pop() {
            for next in self.edges.get(f).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next);
                }
            }
        }
        seen
    }

    /// The circles: each set of two or more files that all reach each
    /// other (a strongly connected component), sorted.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut tarjan = Tarjan {
            graph: self,
            index: HashMap::new(),
            low: HashMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            components: Vec::new(),
        };
        for f in self.edges.keys() {
            if !tarjan.index.contains_key(f.as_str()) {
                tarjan.visit(f);
            }
        }
        let mut cycles: Vec<Vec<String>> = tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        cycles.sort();
        cycles
    }

    /// One shortest chain of imports from `from` to `to`, for messages.
    pub fn chain(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from.to_string()]);
        while let Some(f) = queue.pop_front() {
            for next in self.edges.get(&f).into_iter().flatten() {
                if next == from || previous.contains_key(next) {
                    continue;
                }
                previous.insert(next.clone(), f.clone());
                if next == to {
                    let mut chain = vec![to.to_string()];
                    let mut at = to.to_string();
                    while let Some(p) = previous.get(&at) {
                        chain.push(p.clone());
                        if p == from {
                            break;
                        }
                        at = p.clone();
                    }
                    chain.reverse();
                    return Some(chain);
                }
                queue.push_back(next.clone());
            }
        }
        None
    }
}

struct Tarjan<'a> {
    graph: &'a ImportGraph,
    index: HashMap<&'a str, usize>,
    low: HashMap<&'a str, usize>,
    stack: Vec<&'a str>,
    on_stack: BTreeSet<&'a str>,
    next: usize,
    components: Vec<Vec<String>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, v: &'a str) {
        self.index.insert(v, self.next);
        self.low.insert(v, self.next);
        self.next += 1;
        self.stack.push(v);
        self.on_stack.insert(v);
        for w in self.graph.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !self.index.contains_key(w) {
                self.visit(w);
                let low = self.low[v].min(self.low[w]);
                self.low.insert(v, low);
            } else if self.on_stack.contains(w) {
                let low = self.low[v].min(self.index[w]);
                self.low.insert(v, low);
            }
        }
        if self.low[v] == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

struct Reader {
    src: PathBuf,
    modules: BTreeMap<ModPath, ModuleInfo>,
    references: Vec<Reference>,
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().trim() == "test")
    })
}

/// The `#[path = "..."]` of a module declaration.
fn path_attribute(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, UseItem)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix.clone();
            if name != "self" {
                path.push(name.clone());
            }
            let alias = if name == "self" {
                prefix.last().cloned().unwrap_or_default()
            } else {
                name
            };
            out.push((alias, UseItem { path, glob: false }));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            let name = r.ident.to_string();
            if name != "self" {
                path.push(name);
            }
            out.push((r.rename.to_string(), UseItem { path, glob: false }));
        }
        syn::UseTree::Glob(_) => out.push((
            String::new(),
            UseItem {
                path: prefix.clone(),
                glob: true,
            },
        )),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix, out);
            }
        }
    }
}

/// Collects the paths written in code and in macro calls.
struct PathCollector {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            self.paths
                .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.scan_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }

    // Items are visited by the reader, module by module.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

impl PathCollector {
    /// Finds `a::b::c` sequences in a token stream.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            if let TokenTree::Group(g) = &tokens[i] {
                self.scan_tokens(g.stream());
                i += 1;
                continue;
            }
            let mut path = Vec::new();
            let mut j = i;
            while let Some(TokenTree::Ident(id)) = tokens.get(j) {
                path.push(id.to_string());
                let colons = matches!(
                    (tokens.get(j + 1), tokens.get(j + 2)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && b.as_char() == ':'
                );
                if !colons {
                    break;
                }
                j += 3;
            }
            if path.len() > 1 {
                self.paths.push(path);
                i = j.max(i + 1);
            } else {
                i += 1;
            }
        }
    }
}

impl Reader {
    fn read_module(&mut self, module: ModPath, file: PathBuf, owns_dir: bool) -> Result<(), Error> {
        let full = self.src.join(&file);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| Error(format!("{}: {e}", full.display())))?;
        let parsed =
            syn::parse_file(&text).map_err(|e| Error(format!("{}: {e}", full.display())))?;
        let name = file.to_string_lossy().replace('\\', "/");
        // Where `mod x;` in this file looks for x.
        let dir = if owns_dir {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        self.read_items(&module, &name, &dir, &parsed.items)
    }

    fn read_items(
        &mut self,
        module: &ModPath,
        file: &str,
        dir: &Path,
        items: &[syn::Item],
    ) -> Result<(), Error> {
        self.modules.entry(module.clone()).or_default().file = file.to_string();
        let mut collector = PathCollector { paths: Vec::new() };
        for item in items {
            let attrs: &[syn::Attribute] = match item {
                syn::Item::Const(i) => &i.attrs,
                syn::Item::Enum(i) => &i.attrs,
                syn::Item::Fn(i) => &i.attrs,
                syn::Item::Impl(i) => &i.attrs,
                syn::Item::Macro(i) => &i.attrs,
                syn::Item::Mod(i) => &i.attrs,
                syn::Item::Static(i) => &i.attrs,
                syn::Item::Struct(i) => &i.attrs,
                syn::Item::Trait(i) => &i.attrs,
                syn::Item::Type(i) => &i.attrs,
                syn::Item::Union(i) => &i.attrs,
                syn::Item::Use(i) => &i.attrs,
                _ => &[],
            };
            if is_test_only(attrs) {
                continue;
            }
            let info = self.modules.get_mut(module).expect("entered above");
            let mut define = |ident: &syn::Ident| {
                info.defined.insert(ident.to_string());
            };
            match item {
                syn::Item::Use(u) => {
                    let mut flat = Vec::new();
                    flatten_use(&u.tree, &mut Vec::new(), &mut flat);
                    for (alias, item) in flat {
                        self.references.push(Reference {
                            file: file.to_string(),
                            module: module.clone(),
                            path: item.path.clone(),
                        });
                        let info = self.modules.get_mut(module).expect("entered above");
                        if item.glob {
                            info.globs.push(item.path);
                        } else {
                            info.uses.insert(alias, item.path);
                        }
                    }
                    continue;
                }
                syn::Item::Mod(m) => {
                    let mut child = module.clone();
                    child.push(m.ident.to_string());
                    match &m.content {
                        Some((_, inner)) => {
                            let inner_dir = dir.join(m.ident.to_string());
                            self.read_items(&child, file, &inner_dir, inner)?;
                        }
                        None => {
                            let (path, owns_dir) = match path_attribute(&m.attrs) {
                                Some(p) => (dir.join(p), true),
                                None => {
                                    let flat = dir.join(format!("{}.rs", m.ident));
                                    if self.src.join(&flat).exists() {
                                        (flat, false)
                                    } else {
                                        (dir.join(m.ident.to_string()).join("mod.rs"), true)
                                    }
                                }
                            };
                            self.read_module(child, path, owns_dir)?;
                        }
                    }
                    continue;
                }
                syn::Item::Const(i) => define(&i.ident),
                syn::Item::Enum(i) => define(&i.ident),
                syn::Item::Fn(i) => define(&i.sig.ident),
                syn::Item::Static(i) => define(&i.ident),
                syn::Item::Struct(i) => define(&i.ident),
                syn::Item::Trait(i) => define(&i.ident),
                syn::Item::Type(i) => define(&i.ident),
                syn::Item::Union(i) => define(&i.ident),
                syn::Item::Macro(i) => {
                    if let Some(ident) = &i.ident {
                        define(ident);
                    }
                }
                _ => {}
            }
            syn::visit::visit_item(&mut collector, item);
        }
        for path in collector.paths {
            self.references.push(Reference {
                file: file.to_string(),
                module: module.clone(),
                path,
            });
        }
        Ok(())
    }

    /// `path`, written in `module`, from the crate root; `None` for paths
    /// outside the crate (other crates, local names, generic parameters).
    fn absolute(&self, module: &ModPath, path: &[String], depth: usize) -> Option<Vec<String>> {
        let first = path.first()?;
        let rest = &path[1..];
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some(module.iter().chain(rest).cloned().collect()),
            "super" => {
                let mut base = module.clone();
                base.pop();
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                Some(base.into_iter().chain(rest.iter().cloned()).collect())
            }
            name => {
                let mut child = module.clone();
                child.push(name.to_string());
                if self.modules.contains_key(&child) {
                    return Some(module.iter().chain(path).cloned().collect());
                }
                // A name a `use` of this module brought in.
                let used = self.modules.get(module)?.uses.get(name)?;
                if depth > 16 || used.first().is_some_and(|s| s == name) && used.len() == 1 {
                    return None;
                }
                let mut base = self.absolute(module, used, depth + 1)?;
                base.extend(rest.iter().cloned());
                Some(base)
            }
        }
    }

    /// The file that defines what the absolute path `path` names.
    fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let mut module: ModPath = Vec::new();
        for (i, seg) in path.iter().enumerate() {
            let mut child = module.clone();
            child.push(seg.clone());
            if self.modules.contains_key(&child) {
                module = child;
                continue;
            }
            let here = self.modules.get(&module)?;
            return Some(
                self.lookup(&module, seg, &path[i + 1..], depth)
                    .unwrap_or_else(|| here.file.clone()),
            );
        }
        self.modules.get(&module).map(|m| m.file.clone())
    }

    /// The file that defines `name` (followed by `rest`) as seen from
    /// `module`: the module itself, or through its `use` items.
    fn lookup(
        &self,
        module: &ModPath,
        name: &str,
        rest: &[String],
        depth: usize,
    ) -> Option<String> {
        let info = self.modules.get(module)?;
        if info.defined.contains(name) {
            return Some(info.file.clone());
        }
        if let Some(used) = info.uses.get(name) {
            let mut target = self.absolute(module, used, depth + 1)?;
            target.extend(rest.iter().cloned());
            return self.resolve(&target, depth + 1);
        }
        info.globs.iter().find_map(|g| {
            let base = self.absolute(module, g, depth + 1)?;
            self.lookup(&base, name, rest, depth + 1)
        })
    }

    fn graph(self) -> ImportGraph {
        let mut edges: BTreeMap<String, BTreeSet<String>> = self
            .modules
            .values()
            .map(|m| (m.file.clone(), BTreeSet::new()))
            .collect();
        for r in &self.references {
            let Some(abs) = self.absolute(&r.module, &r.path, 0) else {
                continue;
            };
            if let Some(target) = self.resolve(&abs, 0) {
                if target != r.file {
                    edges
                        .get_mut(&r.file)
                        .expect("every file is a module's")
                        .insert(target);
                }
            }
        }
        ImportGraph { edges }
    }
}
