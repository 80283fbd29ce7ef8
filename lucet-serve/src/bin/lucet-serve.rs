//! `lucet-serve`: serve HTTP, every request in a fresh instance of a WAGI
//! handler or a Fastly Compute app.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Parser;
use lucet_serve::{AccessLog, Config, DirConfig, RouteLimits, Server};

/// See the dependency's note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve HTTP: every request runs in a fresh instance of a WebAssembly
/// handler: a WAGI handler (a WASI program that reads the request from its
/// environment and standard input and writes a CGI response) or a Fastly
/// Compute app (built with the `fastly` crate or `@fastly/js-compute`).
#[derive(Parser)]
#[command(
    version,
    override_usage = "lucet-serve [OPTIONS] MODULE\n       lucet-serve [OPTIONS] --config FILE",
    after_help = "Examples:\n  lucet-serve examples/hello.wat\n  lucet-serve -C fastly.toml app.wasm\n  lucet-serve --listen 0.0.0.0:8080 --timeout 2s --dir ./static::/static handler.wasm\n  lucet-serve --config lucet-serve.toml --admin 127.0.0.1:9090\n\nSIGHUP reloads the configuration and modules; SIGTERM and SIGINT stop\naccepting, let requests in flight finish, then exit."
)]
struct Args {
    /// The handler for every path: a .lucet file, or a .wasm/.wat compiled
    /// at start-up.
    #[arg(
        value_name = "MODULE",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    module: Option<PathBuf>,
    /// Routes from a TOML file instead (see the README's Serving section).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to accept requests [default: 127.0.0.1:8080, or the file's].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve /metrics and /healthz here (off unless given).
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Threads that run handlers [default: one per core].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Requests that may wait for a worker; past it, 503 [default: as many
    /// as --max-instances].
    #[arg(long, value_name = "N")]
    queue: Option<usize>,
    /// Instances alive at once, running or suspended while they wait;
    /// past it, 503 [default: 10000].
    #[arg(long, value_name = "N")]
    max_instances: Option<usize>,
    /// Where the access log goes: a file, - (standard output) or off.
    #[arg(long, value_name = "PATH")]
    access_log: Option<String>,
    /// On SIGTERM, how long requests in flight have to finish.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    drain_timeout: Option<Duration>,
    /// How long a client may take to send a request's headers (and a new
    /// connection its first bytes).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    header_read_timeout: Option<Duration>,
    /// How long a connection may stay open with no request in flight
    /// [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    idle_timeout: Option<Duration>,
    /// Connections open at once; past it, new ones wait until one closes
    /// [default: 9000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Request body bytes held for all requests together; past it, 503
    /// [default: 256MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_buffered_body: Option<u64>,
    /// Requests in flight at once on one HTTP/2 connection [default: 100].
    #[arg(long, value_name = "N")]
    max_streams: Option<u32>,
    /// Response bytes held for clients, all together; past it, 503
    /// [default: 512MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_buffered_response: Option<u64>,
    /// How long a client may leave a response unread before its
    /// connection is closed [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    send_timeout: Option<Duration>,
    #[command(flatten)]
    route: RouteArgs,
}

/// The route's settings, for the one-module form.
#[derive(clap::Args)]
struct RouteArgs {
    /// Stop a handler that runs longer than this: 504.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s", conflicts_with = "config")]
    timeout: Duration,
    /// Stop a handler after about this many instructions: 500.
    #[arg(long, value_name = "N", conflicts_with = "config")]
    fuel: Option<u64>,
    /// Most linear memory a handler may use.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "128MiB", conflicts_with = "config")]
    max_heap_size: u64,
    /// Native stack for handler code.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB", conflicts_with = "config")]
    stack_size: u64,
    /// Largest request body: 413 past it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "8MiB", conflicts_with = "config")]
    max_request_body: u64,
    /// Largest response body a handler may write: 500 past it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16MiB", conflicts_with = "config")]
    max_response_body: u64,
    /// Most bytes a Compute app's cache holds; the objects used least
    /// recently are evicted past it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB", conflicts_with = "config")]
    cache_size: u64,
    /// Set an environment variable for the handler.
    #[arg(long = "env", value_name = "KEY=VALUE", conflicts_with = "config")]
    envs: Vec<String>,
    /// Give the handler a host directory, read-only: HOST (under its own
    /// name) or HOST::GUEST.
    #[arg(long = "dir", value_name = "HOST[::GUEST]", conflicts_with = "config")]
    dirs: Vec<String>,
    /// A host directory the handler may also change.
    #[arg(
        long = "writable-dir",
        value_name = "HOST[::GUEST]",
        conflicts_with = "config"
    )]
    writable_dirs: Vec<String>,
    /// Serve the module only if it is a compiled file signed by this
    /// minisign public key (`lucetc --sign`).
    #[arg(long, value_name = "PUBLIC_KEY", conflicts_with = "config")]
    verify: Option<PathBuf>,
    /// A Compute app's fastly.toml: its [local_server] section configures
    /// the app's stores and services.
    #[arg(
        short = 'C',
        long = "fastly-toml",
        value_name = "FILE",
        conflicts_with = "config"
    )]
    fastly_toml: Option<PathBuf>,
    /// A host the Compute app may register dynamic backends for: HOST (any
    /// port), HOST:PORT or *.DOMAIN (repeatable; none by default)
    #[arg(long, value_name = "HOST", conflicts_with = "config")]
    dynamic_backend: Vec<String>,
    /// Write the Compute app's log endpoint NAME to FILE (appending;
    /// repeatable; other endpoints go to the server's log)
    #[arg(long, value_name = "NAME=FILE", conflicts_with = "config")]
    log_file: Vec<String>,
}

fn dir(spec: &str, writable: bool) -> DirConfig {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    let guest = if guest.starts_with('/') {
        guest.to_string()
    } else {
        format!("/{}", guest.trim_start_matches("./"))
    };
    DirConfig {
        host: host.into(),
        guest,
        writable,
    }
}

fn config(args: &Args) -> Result<Config> {
    let mut config = match (&args.config, &args.module) {
        (Some(path), _) => Config::from_file(path)?,
        (None, Some(module)) => {
            let r = &args.route;
            let limits = RouteLimits {
                timeout: r.timeout,
                fuel: r.fuel,
                max_heap_size: r.max_heap_size,
                stack_size: r.stack_size,
                max_request_body: r.max_request_body,
                max_response_body: r.max_response_body,
                cache_size: r.cache_size,
                ..RouteLimits::default()
            };
            let mut c = Config::single(module.clone(), limits);
            let route = &mut c.routes[0];
            for kv in &r.envs {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--env {kv:?}: expected KEY=VALUE"))?;
                route.env.push((k.into(), v.into()));
            }
            route.dirs.extend(r.dirs.iter().map(|d| dir(d, false)));
            route
                .dirs
                .extend(r.writable_dirs.iter().map(|d| dir(d, true)));
            route.verify = r.verify.clone();
            route.fastly_toml = r.fastly_toml.clone();
            route.dynamic_backends = r.dynamic_backend.clone();
            for spec in &r.log_file {
                let (name, file) = spec
                    .split_once('=')
                    .filter(|(n, f)| !n.is_empty() && !f.is_empty())
                    .ok_or_else(|| anyhow!("--log-file {spec:?}: expected NAME=FILE"))?;
                route.log_files.push((name.into(), file.into()));
            }
            c
        }
        (None, None) => unreachable!("clap requires one"),
    };
    if let Some(a) = args.listen {
        config.listen = a;
    }
    if let Some(a) = args.admin {
        config.admin = Some(a);
    }
    if let Some(n) = args.workers {
        if n == 0 || n > 1024 {
            return Err(anyhow!("--workers {n}: expected 1 to 1024"));
        }
        config.server.workers = n;
    }
    if let Some(n) = args.max_instances {
        config.server.max_instances = n;
        config.server.queue = n;
    }
    if let Some(n) = args.queue {
        config.server.queue = n;
    }
    if let Some(t) = args.drain_timeout {
        config.server.drain_timeout = t;
    }
    if let Some(t) = args.header_read_timeout {
        config.server.header_read_timeout = t;
    }
    if let Some(t) = args.idle_timeout {
        config.server.idle_timeout = t;
    }
    if let Some(n) = args.max_connections {
        config.server.max_connections = n;
    }
    if let Some(n) = args.max_buffered_body {
        config.server.max_buffered_body = n;
    }
    if let Some(n) = args.max_streams {
        config.server.max_streams = n;
    }
    if let Some(n) = args.max_buffered_response {
        config.server.max_buffered_response = n;
    }
    if let Some(t) = args.send_timeout {
        config.server.send_timeout = t;
    }
    if let Some(a) = &args.access_log {
        config.access_log = match a.as_str() {
            "-" => AccessLog::Stdout,
            "off" => AccessLog::Off,
            path => AccessLog::File(path.into()),
        };
    }
    config.validate().map_err(|e| anyhow!(e))?;
    Ok(config)
}

fn run(args: Args) -> Result<()> {
    let config = config(&args)?;
    // Each request in flight holds a socket (two when its app proxies): the
    // soft limit on descriptors goes up to the hard one.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(descriptors = n, "descriptor limit"),
        Err(e) => tracing::warn!("cannot raise the descriptor limit: {e}"),
    }
    let server = Server::start(config)?;
    server.run_until_signalled()?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LUCET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", lucet_module::escape_control(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// A size as users write it: `65536`, `64KiB`, `64K`, `4GiB` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s)
        .map_err(|e| format!("invalid size {s:?}: {e}"))
}
