//! Configuration: the routes (each with its module, limits, environment
//! and directories) and the server's own settings, from a TOML file or from
//! the command line's one-module form.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::access_log::AccessLog;
use crate::limits::{RouteLimits, ServerLimits};
use crate::Error;

/// Everything the server is told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to accept requests.
    pub listen: SocketAddr,
    /// Where to serve `/metrics` and `/healthz` (off if `None`).
    pub admin: Option<SocketAddr>,
    /// Server-wide limits.
    pub server: ServerLimits,
    /// The routes, in the order given (matching picks the most specific).
    pub routes: Vec<RouteConfig>,
    /// Where the access log goes.
    pub access_log: AccessLog,
    /// The file this came from, for reloading.
    pub source: Option<PathBuf>,
}

/// One route: which requests, handled by which module, within which limits.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// What it matches.
    pub path: RoutePath,
    /// The handler: a `.lucet` file, a `.wasm` or `.wat` (compiled at
    /// start-up).
    pub module: PathBuf,
    /// Require the module to be a compiled file signed by the minisign
    /// public key in this file.
    pub verify: Option<PathBuf>,
    /// The handler ABI, by name (`wagi`, `fastly`); when `None`, the
    /// module's imports tell it.
    pub abi: Option<String>,
    /// A Compute app's `fastly.toml`, whose `[local_server]` section
    /// configures its stores and services.
    pub fastly_toml: Option<PathBuf>,
    /// Hosts a Compute app may register dynamic backends for: `HOST`
    /// (any port), `HOST:PORT`, or `*.DOMAIN` (any name under it, any
    /// port). None: the app may register none.
    pub dynamic_backends: Vec<String>,
    /// Files that a Compute app's log endpoints write to, by endpoint
    /// name (other endpoints go to the server's log).
    pub log_files: Vec<(String, PathBuf)>,
    /// Limits for its requests.
    pub limits: RouteLimits,
    /// Environment variables the handler sees besides the CGI ones.
    pub env: Vec<(String, String)>,
    /// Host directories the handler may open.
    pub dirs: Vec<DirConfig>,
}

/// A host directory given to a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirConfig {
    /// The directory on the host.
    pub host: PathBuf,
    /// Its path in the guest.
    pub guest: String,
    /// Whether the handler may create, change or delete what is in it.
    pub writable: bool,
}

/// What requests a route matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePath {
    /// Exactly this path.
    Exact(String),
    /// This path and everything under it (`/x/...` in the configuration:
    /// `/x`, `/x/`, `/x/y`); `/...` matches every path.
    Prefix(String),
}

impl RoutePath {
    /// Parses `/x` (exact) or `/x/...` (prefix).
    pub fn parse(s: &str) -> Result<RoutePath, String> {
        if !s.starts_with('/') {
            return Err(format!("route {s:?} does not start with '/'"));
        }
        if s.contains(['?', '#']) || s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(format!("route {s:?} is not a plain path"));
        }
        match s.strip_suffix("/...") {
            Some(prefix) => {
                if prefix.contains("...") {
                    return Err(format!("route {s:?}: '...' only at the end"));
                }
                Ok(RoutePath::Prefix(prefix.to_string()))
            }
            None if s.contains("...") => Err(format!("route {s:?}: '...' only at the end")),
            None => Ok(RoutePath::Exact(s.to_string())),
        }
    }

    /// If `path` matches: the part it matched (`SCRIPT_NAME`) and the rest
    /// (`PATH_INFO`).
    pub fn matches<'p>(&self, path: &'p str) -> Option<(&'p str, &'p str)> {
        match self {
            RoutePath::Exact(p) => (path == p).then_some((path, "")),
            RoutePath::Prefix(p) => {
                let rest = path.strip_prefix(p.as_str())?;
                (rest.is_empty() || rest.starts_with('/') || p.ends_with('/'))
                    .then(|| path.split_at(p.len()))
            }
        }
    }

    /// How specific it is: exact routes first, then longer prefixes.
    pub fn specificity(&self) -> (bool, usize) {
        match self {
            RoutePath::Exact(p) => (true, p.len()),
            RoutePath::Prefix(p) => (false, p.len()),
        }
    }
}

impl std::fmt::Display for RoutePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoutePath::Exact(p) => write!(f, "{p}"),
            RoutePath::Prefix(p) => write!(f, "{p}/..."),
        }
    }
}

// The file's shape. Every table refuses keys it does not know, so that a
// misspelt limit is an error rather than silently the default.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<String>,
    admin: Option<String>,
    workers: Option<usize>,
    queue: Option<usize>,
    max_instances: Option<usize>,
    #[serde(default, deserialize_with = "opt_duration")]
    header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    idle_timeout: Option<Duration>,
    max_connections: Option<usize>,
    #[serde(default, deserialize_with = "opt_size")]
    max_buffered_body: Option<u64>,
    max_streams: Option<u32>,
    #[serde(default, deserialize_with = "opt_size")]
    max_buffered_response: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration")]
    send_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    drain_timeout: Option<Duration>,
    max_headers: Option<usize>,
    #[serde(default, deserialize_with = "opt_size")]
    max_head_bytes: Option<u64>,
    access_log: Option<String>,
    #[serde(default)]
    defaults: FileLimits,
    /// Routes are read by hand (`FileRoute::from_table`): serde cannot
    /// both flatten the limits into them and refuse unknown keys.
    #[serde(default, rename = "route")]
    routes: Vec<toml::Table>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileLimits {
    #[serde(default, deserialize_with = "opt_duration")]
    timeout: Option<Duration>,
    fuel: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    max_heap_size: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    stack_size: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    max_request_body: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    max_response_body: Option<u64>,
    max_headers: Option<usize>,
    #[serde(default, deserialize_with = "opt_size")]
    max_header_bytes: Option<u64>,
    #[serde(default, deserialize_with = "opt_duration")]
    body_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "opt_size")]
    max_response_headers: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    max_log_bytes: Option<u64>,
    #[serde(default, deserialize_with = "opt_size")]
    cache_size: Option<u64>,
}

struct FileRoute {
    path: String,
    module: PathBuf,
    verify: Option<PathBuf>,
    abi: Option<String>,
    fastly_toml: Option<PathBuf>,
    dynamic_backends: Vec<String>,
    log_files: BTreeMap<String, PathBuf>,
    limits: FileLimits,
    env: BTreeMap<String, String>,
    dirs: Vec<FileDir>,
}

impl FileRoute {
    fn from_table(mut t: toml::Table) -> Result<FileRoute, String> {
        fn take<T: serde::de::DeserializeOwned>(
            t: &mut toml::Table,
            key: &str,
            route: &str,
        ) -> Result<Option<T>, String> {
            t.remove(key)
                .map(|v| {
                    v.try_into().map_err(|e: toml::de::Error| {
                        format!("route {route}: {key}: {}", e.message())
                    })
                })
                .transpose()
        }
        let path: String = take(&mut t, "path", "")?.ok_or("a [[route]] has no path")?;
        let module: PathBuf =
            take(&mut t, "module", &path)?.ok_or_else(|| format!("route {path} has no module"))?;
        let verify = take(&mut t, "verify", &path)?;
        let abi = take(&mut t, "abi", &path)?;
        let fastly_toml = take(&mut t, "fastly-toml", &path)?;
        let dynamic_backends = take(&mut t, "dynamic-backends", &path)?.unwrap_or_default();
        let log_files = take(&mut t, "log-files", &path)?.unwrap_or_default();
        let env = take(&mut t, "env", &path)?.unwrap_or_default();
        let dirs = take(&mut t, "dir", &path)?.unwrap_or_default();
        let limits = FileLimits::deserialize(toml::Value::Table(t))
            .map_err(|e| format!("route {path}: {}", e.message().trim()))?;
        Ok(FileRoute {
            path,
            module,
            verify,
            abi,
            fastly_toml,
            dynamic_backends,
            log_files,
            limits,
            env,
            dirs,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileDir {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    writable: bool,
}

/// A size: a number of bytes, or a string such as "64MiB".
fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(n) => Ok(Some(n)),
        Size::Text(s) => parse_size::Config::new()
            .with_binary()
            .parse_size(&s)
            .map_err(|e| format!("invalid size {s:?}: {e}"))
            .map(Some)
            .map_err(de::Error::custom),
    }
}

/// A duration: a string such as "100ms" or "2s".
fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
        .map_err(de::Error::custom)
}

impl FileLimits {
    /// These settings over `base`.
    fn over(&self, base: &RouteLimits) -> Result<RouteLimits, String> {
        let usize_of =
            |name: &str, v: u64| usize::try_from(v).map_err(|_| format!("{name} {v} is too large"));
        let mut l = base.clone();
        if let Some(v) = self.timeout {
            l.timeout = v;
        }
        if self.fuel.is_some() {
            l.fuel = self.fuel;
        }
        if let Some(v) = self.max_heap_size {
            l.max_heap_size = v;
        }
        if let Some(v) = self.stack_size {
            l.stack_size = v;
        }
        if let Some(v) = self.max_request_body {
            l.max_request_body = v;
        }
        if let Some(v) = self.max_response_body {
            l.max_response_body = v;
        }
        if let Some(v) = self.max_headers {
            l.max_headers = v;
        }
        if let Some(v) = self.max_header_bytes {
            l.max_header_bytes = usize_of("max-header-bytes", v)?;
        }
        if let Some(v) = self.body_read_timeout {
            l.body_read_timeout = v;
        }
        if let Some(v) = self.max_response_headers {
            l.max_response_headers = usize_of("max-response-headers", v)?;
        }
        if let Some(v) = self.max_log_bytes {
            l.max_log_bytes = usize_of("max-log-bytes", v)?;
        }
        if let Some(v) = self.cache_size {
            l.cache_size = v;
        }
        Ok(l)
    }
}

/// The default address, when neither the file nor the command line says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("{what} {s:?} is not an address such as 127.0.0.1:8080"))
}

impl Config {
    /// One module on every path.
    pub fn single(module: PathBuf, limits: RouteLimits) -> Config {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            admin: None,
            server: ServerLimits::default(),
            routes: vec![RouteConfig {
                path: RoutePath::Prefix(String::new()),
                module,
                verify: None,
                abi: None,
                fastly_toml: None,
                dynamic_backends: Vec::new(),
                log_files: Vec::new(),
                limits,
                env: Vec::new(),
                dirs: Vec::new(),
            }],
            access_log: AccessLog::Stdout,
            source: None,
        }
    }

    /// Reads a TOML configuration file. Module and directory paths in it
    /// are relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Config::from_toml(&text, base).map_err(|message| Error::Config {
            path: path.display().to_string(),
            message,
        })?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses a configuration; relative paths are taken from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut server = ServerLimits::default();
        if let Some(n) = file.workers {
            if n == 0 || n > 1024 {
                return Err(format!("workers = {n}: expected 1 to 1024"));
            }
            server.workers = n;
        }
        if let Some(n) = file.max_instances {
            server.max_instances = n;
        }
        server.queue = file.queue.unwrap_or(server.max_instances);
        if let Some(t) = file.header_read_timeout {
            server.header_read_timeout = t;
        }
        if let Some(t) = file.idle_timeout {
            server.idle_timeout = t;
        }
        if let Some(n) = file.max_connections {
            server.max_connections = n;
        }
        if let Some(n) = file.max_buffered_body {
            server.max_buffered_body = n;
        }
        if let Some(n) = file.max_streams {
            server.max_streams = n;
        }
        if let Some(n) = file.max_buffered_response {
            server.max_buffered_response = n;
        }
        if let Some(t) = file.send_timeout {
            server.send_timeout = t;
        }
        if let Some(t) = file.drain_timeout {
            server.drain_timeout = t;
        }
        if let Some(n) = file.max_headers {
            server.max_headers = n;
        }
        if let Some(n) = file.max_head_bytes {
            server.max_head_bytes =
                usize::try_from(n).map_err(|_| format!("max-head-bytes {n} is too large"))?;
        }
        let defaults = file.defaults.over(&RouteLimits::default())?;
        if file.routes.is_empty() {
            return Err("no [[route]]: nothing to serve".into());
        }
        let mut routes: Vec<RouteConfig> = Vec::new();
        for table in file.routes {
            let r = FileRoute::from_table(table)?;
            let path = RoutePath::parse(&r.path)?;
            if routes.iter().any(|o| o.path == path) {
                return Err(format!("route {} is given twice", r.path));
            }
            let limits = r
                .limits
                .over(&defaults)
                .map_err(|e| format!("route {}: {e}", r.path))?;
            let dirs = r
                .dirs
                .into_iter()
                .map(|d| DirConfig {
                    host: base.join(d.host),
                    guest: d.guest,
                    writable: d.writable,
                })
                .collect();
            routes.push(RouteConfig {
                path,
                module: base.join(r.module),
                verify: r.verify.map(|v| base.join(v)),
                abi: r.abi,
                fastly_toml: r.fastly_toml.map(|f| base.join(f)),
                dynamic_backends: r.dynamic_backends,
                log_files: r
                    .log_files
                    .into_iter()
                    .map(|(name, file)| (name, base.join(file)))
                    .collect(),
                limits,
                env: r.env.into_iter().collect(),
                dirs,
            });
        }
        let config = Config {
            listen: parse_addr("listen", file.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?,
            admin: file
                .admin
                .as_deref()
                .map(|a| parse_addr("admin", a))
                .transpose()?,
            server,
            routes,
            access_log: match file.access_log.as_deref() {
                None | Some("-") => AccessLog::Stdout,
                Some("off") => AccessLog::Off,
                Some(path) => AccessLog::File(base.join(path)),
            },
            source: None,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what types cannot: limits that make no sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.server.max_instances == 0 {
            return Err("max-instances must be at least 1".into());
        }
        if self.server.queue == 0 {
            return Err("queue must be at least 1".into());
        }
        if self.server.max_connections == 0 || self.server.max_streams == 0 {
            return Err("max-connections and max-streams must be at least 1".into());
        }
        if self.server.header_read_timeout.is_zero()
            || self.server.idle_timeout.is_zero()
            || self.server.send_timeout.is_zero()
        {
            return Err(
                "header-read-timeout, idle-timeout and send-timeout must be more than 0".into(),
            );
        }
        for r in &self.routes {
            let l = &r.limits;
            let what = |m: &str| format!("route {}: {m}", r.path);
            if l.timeout.is_zero() {
                return Err(what("timeout must be more than 0"));
            }
            if l.max_heap_size > 1 << 32 {
                return Err(what("max-heap-size is more than 4GiB"));
            }
            if l.stack_size < 16 << 10 || l.stack_size > 1 << 30 {
                return Err(what("stack-size must be between 16KiB and 1GiB"));
            }
            for (k, v) in &r.env {
                if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
                    return Err(what(&format!("environment variable {k:?} is not valid")));
                }
            }
            for d in &r.dirs {
                if !d.guest.starts_with('/') {
                    return Err(what(&format!(
                        "dir guest path {:?} must be absolute",
                        d.guest
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A TOML error on one line: where, and what.
/// A TOML error as one line, with where it is.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths_match_exactly_or_by_prefix() {
        let exact = RoutePath::parse("/hello").unwrap();
        assert_eq!(exact.matches("/hello"), Some(("/hello", "")));
        assert_eq!(exact.matches("/hello/x"), None);
        let prefix = RoutePath::parse("/static/...").unwrap();
        assert_eq!(prefix.matches("/static"), Some(("/static", "")));
        assert_eq!(prefix.matches("/static/a/b"), Some(("/static", "/a/b")));
        assert_eq!(prefix.matches("/staticfoo"), None);
        let all = RoutePath::parse("/...").unwrap();
        assert_eq!(all.matches("/"), Some(("", "/")));
        assert_eq!(all.matches("/x"), Some(("", "/x")));
        assert!(RoutePath::parse("hello").is_err());
        assert!(RoutePath::parse("/a/.../b").is_err());
        assert!(RoutePath::parse("/a?b").is_err());
    }

    #[test]
    fn a_file_sets_routes_and_limits_over_the_defaults() {
        let c = Config::from_toml(
            r#"
listen = "127.0.0.1:0"
workers = 3
[defaults]
timeout = "2s"
max-heap-size = "16MiB"
[[route]]
path = "/a"
module = "a.wasm"
fuel = 1000
env = { K = "v" }
[[route.dir]]
host = "data"
guest = "/data"
[[route]]
path = "/b/..."
module = "/abs/b.lucet"
timeout = "100ms"
max-request-body = 1024
"#,
            Path::new("/etc/x"),
        )
        .unwrap();
        assert_eq!(c.server.workers, 3);
        assert_eq!(c.server.queue, 10_000);
        let a = &c.routes[0];
        assert_eq!(a.module, PathBuf::from("/etc/x/a.wasm"));
        assert_eq!(a.limits.timeout, Duration::from_secs(2));
        assert_eq!(a.limits.fuel, Some(1000));
        assert_eq!(a.limits.max_heap_size, 16 << 20);
        assert_eq!(a.env, vec![("K".into(), "v".into())]);
        assert_eq!(a.dirs[0].host, PathBuf::from("/etc/x/data"));
        assert!(!a.dirs[0].writable);
        let b = &c.routes[1];
        assert_eq!(b.path, RoutePath::Prefix("/b".into()));
        assert_eq!(b.module, PathBuf::from("/abs/b.lucet"));
        assert_eq!(b.limits.timeout, Duration::from_millis(100));
        assert_eq!(b.limits.max_request_body, 1024);
        assert_eq!(b.limits.max_heap_size, 16 << 20);
    }

    #[test]
    fn the_readme_example_is_a_valid_configuration() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let c = Config::from_toml(&readme[start..end], Path::new("/srv")).unwrap();
        assert_eq!(c.routes.len(), 3);
        assert_eq!(c.server.max_instances, 10_000);
        assert_eq!(
            c.routes[1].fastly_toml.as_deref(),
            Some(Path::new("/srv/fastly.toml"))
        );
        assert_eq!(
            c.routes[1].dynamic_backends,
            vec!["api.example.com".to_string(), "*.cdn.example".to_string()]
        );
        assert_eq!(
            c.routes[1].log_files,
            vec![("app-log".to_string(), PathBuf::from("/srv/logs/app.log"))]
        );
        assert_eq!(c.routes[2].dirs[0].host, PathBuf::from("/srv/www"));
        assert_eq!(c.routes[2].limits.timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        for (text, want) in [
            ("lisen = \"x\"\n", "line 1, column 1: unknown field `lisen`"),
            (
                "[[route]]\npath = \"/\"\nmodule = \"m\"\ntimeout = \"fast\"\n",
                "route /: invalid duration \"fast\"",
            ),
            (
                "[[route]]\npath = \"/\"\nmodule = \"m\"\ntmeout = \"1s\"\n",
                "route /: unknown field `tmeout`",
            ),
            ("[[route]]\npath = \"x\"\nmodule = \"m\"\n", "does not start with '/'"),
            ("listen = \"127.0.0.1:0\"\n", "nothing to serve"),
            (
                "[[route]]\npath = \"/\"\nmodule = \"m\"\n[[route]]\npath = \"/\"\nmodule = \"n\"\n",
                "given twice",
            ),
            ("workers = 0\n[[route]]\npath = \"/\"\nmodule = \"m\"\n", "workers = 0"),
        ] {
            let e = Config::from_toml(text, Path::new(".")).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
