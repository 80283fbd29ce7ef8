//! What one request may use: the limits of a route, with their defaults.

use std::time::Duration;

/// Limits for the requests of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLimits {
    /// Wall-clock time the handler may run (its start function included);
    /// past it the run is stopped and the client gets 504.
    pub timeout: Duration,
    /// Instructions the handler may execute (about one unit each); past it,
    /// 500. `None`: no limit (and the module is compiled without counting).
    pub fuel: Option<u64>,
    /// Most linear memory the handler may have.
    pub max_heap_size: u64,
    /// The handler's native stack.
    pub stack_size: u64,
    /// Largest request body; a longer one is 413, read no further than the
    /// limit.
    pub max_request_body: u64,
    /// Largest response body; a handler that writes more gets 500.
    pub max_response_body: u64,
    /// Most request headers; more is 431.
    pub max_headers: usize,
    /// Most bytes of request headers (names and values together); more is
    /// 431.
    pub max_header_bytes: usize,
    /// How long the client may take to send the body once the headers are
    /// in; slower is 408. No worker is taken before the whole body is read.
    pub body_read_timeout: Duration,
    /// Most bytes of the response's header block (the part of stdout before
    /// the blank line).
    pub max_response_headers: usize,
    /// Most bytes of standard error logged per request; the rest is
    /// dropped (and the drop logged).
    pub max_log_bytes: usize,
    /// Most bytes a Compute app's cache holds (objects and their metadata);
    /// past it the objects used least recently are evicted. One object
    /// may take a quarter of it.
    pub cache_size: u64,
}

impl Default for RouteLimits {
    fn default() -> Self {
        RouteLimits {
            timeout: Duration::from_secs(10),
            fuel: None,
            max_heap_size: 128 << 20,
            stack_size: 1 << 20,
            max_request_body: 8 << 20,
            max_response_body: 16 << 20,
            max_headers: 100,
            max_header_bytes: 32 << 10,
            body_read_timeout: Duration::from_secs(10),
            max_response_headers: 32 << 10,
            max_log_bytes: 64 << 10,
            cache_size: 64 << 20,
        }
    }
}

/// The default bound on instances alive at once: a suspended instance
/// costs its slot's resident pages (tens of KiB for a small app) and a
/// reservation of address space, of which this machine has room for far
/// more.
pub const DEFAULT_MAX_INSTANCES: usize = 10_000;

/// The default bound on connections open at once: a proxied request in
/// flight holds two descriptors (its client's and its backend's), and a
/// process on these machines may hold 20,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 9_000;

/// What the whole server does, whatever the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Threads that run handlers (each runs one instance at a time, and
    /// keeps others suspended while they wait).
    pub workers: usize,
    /// Instances alive at once, running or suspended, all workers
    /// together; past it (counting the queue) the server answers 503 at
    /// once.
    pub max_instances: usize,
    /// Requests that may wait for a worker, all workers together; when the
    /// queue is full the server answers 503 at once. As many as
    /// `max_instances` unless said otherwise: a crowd of requests that
    /// arrive together (and then mostly wait on backends, suspended) is
    /// let in up to the instance limit.
    pub queue: usize,
    /// How long a client may take to send a request's headers (the first
    /// bytes of a new connection included).
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight
    /// (HTTP/1.1 keep-alive, HTTP/2).
    pub idle_timeout: Duration,
    /// Connections open at once; past it, new ones wait in the listen
    /// backlog until one closes (and that is logged).
    pub max_connections: usize,
    /// Request body bytes held for requests, all together (bodies read
    /// before a handler starts, and bodies on their way to one); past it a
    /// request is refused (503).
    pub max_buffered_body: u64,
    /// Requests in flight at once on one HTTP/2 connection.
    pub max_streams: u32,
    /// Response bytes held for clients that have not taken them yet, all
    /// together; a response that would take the server past it is
    /// replaced by 503.
    pub max_buffered_response: u64,
    /// How long a client may leave a response unread (no part of it
    /// taken) before its connection is closed.
    pub send_timeout: Duration,
    /// On shutdown, how long in-flight requests have to finish.
    pub drain_timeout: Duration,
    /// Most headers hyper parses per request, whatever the route (routes
    /// may allow fewer).
    pub max_headers: usize,
    /// Largest request head hyper buffers (HTTP/1) or header list it
    /// accepts (HTTP/2).
    pub max_head_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        ServerLimits {
            workers,
            max_instances: DEFAULT_MAX_INSTANCES,
            queue: DEFAULT_MAX_INSTANCES,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_buffered_body: 256 << 20,
            max_streams: 100,
            max_buffered_response: 512 << 20,
            send_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_head_bytes: 64 << 10,
        }
    }
}
