//! What the server serves at one moment: the routes with their modules
//! loaded and directories opened. A reload builds a new `App` and swaps it
//! in; requests in flight keep the one they started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use cap_std::fs::Dir;
use lucet_wasi::DirAccess;

use crate::config::{Config, RoutePath};
use crate::engine::{Engine, LoadSpec, LoadedModule};
use crate::limits::RouteLimits;
use crate::Error;

/// A route, ready to serve.
pub struct Route {
    /// What it matches.
    pub path: RoutePath,
    /// `path` as written in the configuration (`X_MATCHED_ROUTE`, logs,
    /// metrics).
    pub pattern: String,
    /// The handler's module.
    pub module: Arc<dyn LoadedModule>,
    /// The module's file name (the handler's argv\[0\]).
    pub module_name: String,
    /// Its limits.
    pub limits: RouteLimits,
    /// Environment variables besides the CGI ones.
    pub env: Vec<(String, String)>,
    /// Directories, opened once.
    pub dirs: Vec<OpenDir>,
}

/// A host directory opened for a route.
pub struct OpenDir {
    /// The directory (a capability: nothing outside it is reachable).
    pub dir: Dir,
    /// Its path in the guest.
    pub guest: String,
    /// What the handler may do in it.
    pub access: DirAccess,
}

/// The loaded routes, most specific first.
pub struct App {
    routes: Vec<Route>,
    /// The modules loaded for it, for the next reload to reuse.
    modules: Vec<ModuleFile>,
}

/// A module file as it was loaded: reused by a reload when the file has not
/// changed, or when it no longer loads.
#[derive(Clone)]
struct ModuleFile {
    path: PathBuf,
    count_instructions: bool,
    verify: Option<PathBuf>,
    stamp: Option<(SystemTime, u64)>,
    module: Arc<dyn LoadedModule>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl App {
    /// Loads every route of `config`. With `previous` (a reload), a module
    /// whose file has not changed is reused as it is, and one that fails to
    /// load keeps its previous version (the failure is returned as a
    /// warning); without, any failure is an error.
    pub fn load(
        config: &Config,
        engine: &dyn Engine,
        previous: Option<&App>,
    ) -> Result<(App, Vec<String>), Error> {
        let mut warnings = Vec::new();
        let mut modules: Vec<ModuleFile> = Vec::new();
        let mut routes = Vec::new();
        for rc in &config.routes {
            let pattern = rc.path.to_string();
            let count_instructions = rc.limits.fuel.is_some();
            let same = |m: &&ModuleFile| {
                m.path == rc.module
                    && m.count_instructions == count_instructions
                    && m.verify == rc.verify
            };
            let loaded = match modules.iter().find(same) {
                Some(m) => m.clone(),
                None => {
                    let now = stamp(&rc.module);
                    let old = previous.and_then(|p| p.modules.iter().find(same));
                    let m = match old {
                        Some(old) if now.is_some() && old.stamp == now => old.clone(),
                        _ => match engine.load(
                            &rc.module,
                            &LoadSpec {
                                count_instructions,
                                verify: rc.verify.as_deref(),
                            },
                        ) {
                            Ok(module) => ModuleFile {
                                path: rc.module.clone(),
                                count_instructions,
                                verify: rc.verify.clone(),
                                stamp: now,
                                module,
                            },
                            Err(message) => match old {
                                Some(old) => {
                                    warnings.push(format!(
                                        "route {pattern}: {message}; keeping the module loaded before"
                                    ));
                                    old.clone()
                                }
                                None => {
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
                        access: if d.writable {
                            DirAccess::ReadWrite
                        } else {
                            DirAccess::ReadOnly
                        },
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            routes.push(Route {
                path: rc.path.clone(),
                pattern,
                module_name: rc
                    .module
                    .file_name()
                    .map_or_else(|| "handler".into(), |n| n.to_string_lossy().into_owned()),
                module: loaded.module.clone(),
                limits: rc.limits.clone(),
                env: rc.env.clone(),
                dirs,
            });
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.path.specificity()));
        Ok((App { routes, modules }, warnings))
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
}
