//! A `wasi:http/proxy` component that shows what it was given, for the
//! server's tests. By the path's last segment:
//! - `/echo`: status 201; the body says the method, the request's `x-name`
//!   header and its body; headers `x-echo: yes` (set) and `x-many: 1`,
//!   `x-many: 2` (appended).
//! - `/forbidden`: tries to set `content-length` and `connection`, and says
//!   what the host answered.
//! - `/stderr`: writes a line to standard output and one to standard error.
//! - `/big?N`: writes N bytes of body in 4 KiB writes, stopping at the
//!   first failed write, whose error it prints to standard error.
//! - `/unfinished`: sets a response and writes to its body, never
//!   finishing it.
//! - `/fetch?URL`: sends `POST URL` with header `x-from: echo` and body
//!   `ping` (written after the request is handed over), waits for the
//!   response, and says what came of it: `status=S x-origin=V body=B`,
//!   `not sent: ERROR` or `failed: ERROR`.
//! - `/file?PATH`: answers the file at PATH, or the error reading it.
//! - `/write?PATH`: writes `written` to the file at PATH, and says what
//!   came of it.
//! - `/spin?MS`: computes for MS milliseconds, then answers `spun`.
//! - `/forever`: computes forever.
//! - `/sleep?MS`: waits MS milliseconds (a `wasi:clocks` pollable), then
//!   answers `slept`.
//! - `/nothing`: returns without setting a response.
//! - `/panic`: panics (a trap).

use std::io::{Read as _, Write as _};

use wasip2::io::streams::StreamError;

use wasip2::http::types::{
    Fields, HeaderError, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Echo);

struct Echo;

fn respond(out: ResponseOutparam, status: u16, headers: Fields, body: &[u8]) {
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let outgoing = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = outgoing.write().expect("the body's stream, once");
    stream.write_all(body).expect("written");
    stream.flush().expect("flushed");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finished");
}

/// Sends `POST url` and describes the outcome.
fn fetch(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return format!("not a URL: {url}"),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let headers = Fields::new();
    headers.set("x-from", &[b"echo".to_vec()]).unwrap();
    let request = OutgoingRequest::new(headers);
    request.set_method(&Method::Post).unwrap();
    request.set_scheme(Some(&scheme)).unwrap();
    request.set_authority(Some(authority)).unwrap();
    request.set_path_with_query(Some(path)).unwrap();
    let body = request.body().expect("the body, once");
    let future = match wasip2::http::outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(e) => return format!("not sent: {e:?}"),
    };
    let mut stream = body.write().expect("the body's stream, once");
    stream.write_all(b"ping").expect("written");
    stream.flush().expect("flushed");
    drop(stream);
    OutgoingBody::finish(body, None).expect("finished");
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return format!("failed: {e:?}"),
        other => return format!("no response: {other:?}"),
    };
    let origin = response
        .headers()
        .get("x-origin")
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let mut body = Vec::new();
    response
        .consume()
        .expect("the body, once")
        .stream()
        .expect("its stream, once")
        .read_to_end(&mut body)
        .expect("the body is read");
    format!(
        "status={} x-origin={origin} body={}",
        response.status(),
        String::from_utf8_lossy(&body)
    )
}

fn header_error(e: Result<(), HeaderError>) -> &'static str {
    match e {
        Ok(()) => "ok",
        Err(HeaderError::InvalidSyntax) => "invalid-syntax",
        Err(HeaderError::Forbidden) => "forbidden",
        Err(HeaderError::Immutable) => "immutable",
    }
}

impl wasip2::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (path, query) = path.split_once('?').unwrap_or((&path, ""));
        let last = path.rsplit('/').next().unwrap_or_default();
        match format!("/{last}").as_str() {
            "/echo" => {
                let names = request.headers().get("x-name");
                let name = names
                    .first()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                let immutable = header_error(request.headers().append("x-new", b"1"));
                let mut body = Vec::new();
                let incoming = request.consume().expect("the body, once");
                incoming
                    .stream()
                    .expect("the body's stream, once")
                    .read_to_end(&mut body)
                    .expect("the body is read");
                let text = format!(
                    "method={:?} name={name} request-headers={immutable} body={}",
                    request.method(),
                    String::from_utf8_lossy(&body)
                );
                let headers = Fields::new();
                headers.set("x-echo", &[b"yes".to_vec()]).unwrap();
                headers.append("x-many", b"1").unwrap();
                headers.append("x-many", b"2").unwrap();
                respond(out, 201, headers, text.as_bytes());
            }
            "/forbidden" => {
                let headers = Fields::new();
                let text = format!(
                    "content-length={} connection={} bad-name={}",
                    header_error(headers.set("content-length", &[b"5".to_vec()])),
                    header_error(headers.append("connection", b"close")),
                    header_error(headers.append("bad name", b"x")),
                );
                respond(out, 200, headers, text.as_bytes());
            }
            "/stderr" => {
                println!("a line on standard output");
                eprintln!("a line on standard error");
                respond(out, 200, Fields::new(), b"logged");
            }
            "/big" => {
                let want: usize = query.parse().unwrap_or(0);
                let response = OutgoingResponse::new(Fields::new());
                let outgoing = response.body().expect("the body, once");
                ResponseOutparam::set(out, Ok(response));
                let stream = outgoing.write().expect("the body's stream, once");
                let chunk = [b'x'; 4096];
                let mut written = 0;
                while written < want {
                    let n = chunk.len().min(want - written);
                    match stream.blocking_write_and_flush(&chunk[..n]) {
                        Ok(()) => {}
                        Err(StreamError::LastOperationFailed(e)) => {
                            eprintln!("write failed: {}", e.to_debug_string());
                            return;
                        }
                        Err(StreamError::Closed) => {
                            eprintln!("write failed: closed");
                            return;
                        }
                    }
                    written += n;
                }
                drop(stream);
                OutgoingBody::finish(outgoing, None).expect("finished");
            }
            "/unfinished" => {
                let response = OutgoingResponse::new(Fields::new());
                let outgoing = response.body().expect("the body, once");
                ResponseOutparam::set(out, Ok(response));
                let mut stream = outgoing.write().expect("the body's stream, once");
                stream.write_all(b"half").expect("written");
            }
            "/fetch" => {
                let text = fetch(query);
                respond(out, 200, Fields::new(), text.as_bytes());
            }
            "/file" => {
                let text = match std::fs::read(query) {
                    Ok(bytes) => bytes,
                    Err(e) => format!("{:?}", e.kind()).into_bytes(),
                };
                respond(out, 200, Fields::new(), &text);
            }
            "/write" => {
                let text = match std::fs::write(query, "written") {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("{:?}", e.kind()),
                };
                respond(out, 200, Fields::new(), text.as_bytes());
            }
            "/spin" => {
                let ms: u64 = query.parse().unwrap_or(0);
                let start = std::time::Instant::now();
                let mut x = 0u64;
                while start.elapsed().as_millis() < u128::from(ms) {
                    for i in 0..10_000u64 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                }
                respond(out, 200, Fields::new(), b"spun");
            }
            "/sleep" => {
                let ms: u64 = query.parse().unwrap_or(0);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, Fields::new(), b"slept");
            }
            "/forever" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "/nothing" => drop(out),
            "/panic" => panic!("asked to"),
            _ => respond(out, 404, Fields::new(), b"no such path"),
        }
    }
}
