//! What the server serves at one moment: the routes, each with its module
//! loaded, its handler ABI chosen (named in the configuration, or told by
//! the module's imports) and its directories opened. A reload builds a new
//! `App` and swaps it in; requests in flight keep the one they started
//! with.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use cap_std::fs::Dir;

use crate::abi::{Abi, AbiConfig};
use crate::config::{Config, RouteConfig};
use crate::engine::{Engine, LoadSpec};
use crate::route::{OpenDir, Route};
use crate::Error;

/// The loaded routes, most specific first.
pub(crate) struct App<E: Engine> {
    routes: Vec<Route>,
    /// The handler of each route.
    handlers: Vec<Handler<E>>,
    /// The modules loaded for it, for the next reload to reuse.
    modules: Vec<ModuleFile<E>>,
}

/// What handles a route's requests: its module, through its ABI.
pub(crate) struct Handler<E: Engine> {
    pub abi: Abi,
    /// What the ABI read from the route's configuration.
    pub config: AbiConfig,
    pub module: Arc<E::Module>,
}

/// A module file as it was loaded: reused by a reload when the file has not
/// changed, or when it no longer loads.
struct ModuleFile<E: Engine> {
    path: PathBuf,
    count_instructions: bool,
    verify: Option<PathBuf>,
    /// The ABI the configuration named, if it named one.
    abi_name: Option<String>,
    /// How the file was when it was loaded.
    stamp: Option<FileStamp>,
    /// The verification key's bytes when the module was verified.
    key: Option<Vec<u8>>,
    module: Arc<E::Module>,
    /// The ABI it is handled through.
    abi: Abi,
}

impl<E: Engine> Clone for ModuleFile<E> {
    fn clone(&self) -> Self {
        ModuleFile {
            path: self.path.clone(),
            count_instructions: self.count_instructions,
            verify: self.verify.clone(),
            abi_name: self.abi_name.clone(),
            stamp: self.stamp,
            key: self.key.clone(),
            module: self.module.clone(),
            abi: self.abi,
        }
    }
}

/// Loads a route's module and picks its ABI: the one the configuration
/// names, or the one its imports tell; the module must fit it.
fn load_handler<E: Engine>(
    engine: &E,
    rc: &RouteConfig,
    count_instructions: bool,
) -> Result<(Arc<E::Module>, Abi), String> {
    let module = engine.load(
        &rc.module,
        &LoadSpec {
            count_instructions,
            verify: rc.verify.as_deref(),
        },
    )?;
    let interface = engine.interface(&module);
    let path = rc.module.display();
    let abi = match &rc.abi {
        Some(name) => Abi::from_name(name).ok_or_else(|| {
            format!(
                "unknown ABI \"{}\" (known: {})",
                lucet_module::escape_control(name),
                Abi::ALL.map(|a| a.name()).join(", ")
            )
        })?,
        None => Abi::detect(&interface).map_err(|message| format!("{path}: {message}"))?,
    };
    abi.check(&interface)
        .map_err(|message| format!("{path}: not a {} handler: {message}", abi.name()))?;
    Ok((Arc::new(module), abi))
}

/// What tells a file changed: its identity (device and inode: a file
/// renamed over it is another), its size, and its modification and change
/// times (a write sets the change time, which no one can set back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
    changed: (i64, i64),
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
        changed: (m.ctime(), m.ctime_nsec()),
    })
}

/// The most bytes of a verification key file that are compared between
/// loads (a minisign public key file is about 100).
const MAX_KEY_FILE: u64 = 64 << 10;

/// The bytes of the key file at `path`, to tell whether the key changed
/// since a module was verified with it (`None` if it cannot be read: then
/// loading reports why).
fn key_bytes(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_KEY_FILE)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

impl<E: Engine> App<E> {
    /// Loads every route of `config`. With `previous` (a reload), a module
    /// whose file has not changed is reused as it is, and one that fails to
    /// load keeps its previous version (the failure is returned as a
    /// warning); without, any failure is an error.
    pub fn load(
        config: &Config,
        engine: &E,
        previous: Option<&App<E>>,
    ) -> Result<(App<E>, Vec<String>), Error> {
        let mut warnings = Vec::new();
        let mut modules: Vec<ModuleFile<E>> = Vec::new();
        let mut routes: Vec<(Route, Handler<E>)> = Vec::new();
        for rc in &config.routes {
            let pattern = rc.path.to_string();
            let count_instructions = rc.limits.fuel.is_some();
            let same = |m: &&ModuleFile<E>| {
                m.path == rc.module
                    && m.count_instructions == count_instructions
                    && m.verify == rc.verify
                    && m.abi_name == rc.abi
            };
            let loaded = match modules.iter().find(same) {
                Some(m) => m.clone(),
                None => {
                    let now = stamp(&rc.module);
                    let key = rc.verify.as_deref().and_then(key_bytes);
                    let old = previous.and_then(|p| p.modules.iter().find(same));
                    // A module verified with another key than the one the
                    // route names now must be verified again, and is not
                    // kept if that fails.
                    let old_key_holds = old.is_some_and(|o| o.key == key);
                    let m = match old {
                        Some(old) if now.is_some() && old.stamp == now && old_key_holds => {
                            old.clone()
                        }
                        _ => match load_handler(engine, rc, count_instructions) {
                            Ok((module, abi)) => ModuleFile {
                                path: rc.module.clone(),
                                count_instructions,
                                verify: rc.verify.clone(),
                                abi_name: rc.abi.clone(),
                                stamp: now,
                                key,
                                module,
                                abi,
                            },
                            Err(message) => match old {
                                Some(old) if old_key_holds => {
                                    warnings.push(format!(
                                        "route {pattern}: {message}; keeping the module loaded before"
                                    ));
                                    old.clone()
                                }
                                _ => {
                                    return Err(Error::Module {
                                        route: pattern,
                                        message,
                                    })
                                }
                            },
                        },
                    };
                    modules.push(m.clone());
                    m
                }
            };
            let dirs = rc
                .dirs
                .iter()
                .map(|d| {
                    let dir = Dir::open_ambient_dir(&d.host, cap_std::ambient_authority())
                        .map_err(|source| Error::Dir {
                            route: pattern.clone(),
                            path: d.host.display().to_string(),
                            source,
                        })?;
                    Ok(OpenDir {
                        dir,
                        guest: d.guest.clone(),
                        writable: d.writable,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let route = Route {
                path: rc.path.clone(),
                pattern,
                module_name: rc
                    .module
                    .file_name()
                    .map_or_else(|| "handler".into(), |n| n.to_string_lossy().into_owned()),
                limits: rc.limits.clone(),
                env: rc.env.clone(),
                dirs,
            };
            let config = loaded.abi.configure(rc).map_err(|message| Error::Module {
                route: route.pattern.clone(),
                message,
            })?;
            let handler = Handler {
                abi: loaded.abi,
                config,
                module: loaded.module.clone(),
            };
            routes.push((route, handler));
        }
        routes.sort_by_key(|(r, _)| std::cmp::Reverse(r.path.specificity()));
        let (routes, handlers) = routes.into_iter().unzip();
        Ok((
            App {
                routes,
                handlers,
                modules,
            },
            warnings,
        ))
    }

    /// The route for `path`, with the part it matched and the rest.
    pub fn route_for<'p>(&self, path: &'p str) -> Option<(usize, &'p str, &'p str)> {
        self.routes.iter().enumerate().find_map(|(i, r)| {
            let (script, info) = r.path.matches(path)?;
            Some((i, script, info))
        })
    }

    /// Route `index`.
    pub fn route(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    /// The handler of route `index`.
    pub fn handler(&self, index: usize) -> &Handler<E> {
        &self.handlers[index]
    }
}
