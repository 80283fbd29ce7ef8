//! CGI/1.1 as WAGI uses it: the view of a request a handler gets
//! (meta-variables and argv) and the reading of the response it writes
//! (a CGI header block, a blank line, the body).

use bytes::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode, Version};

use crate::request::{GuestRequest, GuestResponse, HandlerError};

use super::framing::is_hop_by_hop;

/// argv: the program, then (RFC 3875 §4.4) the query string's words split
/// on `+` and decoded, when it has no `=`.
pub(super) fn argv(program: &str, query: &str) -> Vec<String> {
    let mut args = vec![program.to_string()];
    if !query.is_empty() && !query.contains('=') {
        args.extend(query.split('+').map(decode_or_raw));
    }
    args
}

/// `s` percent-decoded, if that gives text without NUL; otherwise as it is.
fn decode_or_raw(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(t) if !t.contains('\0') => t,
        _ => s.to_string(),
    }
}

/// The CGI meta-variables of a request that matched the route written as
/// `pattern`, and its headers as `HTTP_*`.
pub(super) fn cgi_variables(pattern: &str, r: &GuestRequest) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::with_capacity(20 + r.headers.len());
    let mut set = |k: &str, v: String| vars.push((k.to_string(), v));
    let host = r
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| r.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| r.local.to_string());
    let server_name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => host.clone(),
    };
    let query = r.uri.query().unwrap_or("");
    set("GATEWAY_INTERFACE", "CGI/1.1".into());
    set(
        "SERVER_SOFTWARE",
        concat!("lucet-serve/", env!("CARGO_PKG_VERSION")).into(),
    );
    set("SERVER_PROTOCOL", protocol(r.version).into());
    set("SERVER_NAME", server_name);
    set("SERVER_PORT", r.local.port().to_string());
    set("REQUEST_METHOD", r.method.as_str().into());
    set("SCRIPT_NAME", r.script_name.clone());
    set("PATH_INFO", decode_or_raw(&r.path_info));
    set("QUERY_STRING", query.into());
    set("REMOTE_ADDR", r.remote.ip().to_string());
    set("REMOTE_PORT", r.remote.port().to_string());
    set("X_MATCHED_ROUTE", pattern.to_string());
    let path = r.uri.path_and_query().map_or("/", |p| p.as_str());
    set("X_FULL_URL", format!("http://{host}{path}"));
    if let Some(t) = r.headers.get(header::CONTENT_TYPE) {
        set("CONTENT_TYPE", String::from_utf8_lossy(t.as_bytes()).into());
    }
    if !r.body.is_empty() || r.headers.contains_key(header::CONTENT_LENGTH) {
        set("CONTENT_LENGTH", r.body.len().to_string());
    }
    if !r.headers.contains_key(header::HOST) {
        set("HTTP_HOST", host.clone());
    }
    for name in r.headers.keys() {
        let n = name.as_str();
        // Content-Type and -Length have their own variables. `Proxy` would
        // become HTTP_PROXY, which HTTP clients in the guest read as their
        // proxy ("httpoxy"). A name with '_' could pass for another header
        // once '-' becomes '_' (X_Forwarded_For for X-Forwarded-For); other
        // punctuation has no place in a variable name.
        // Only names that make a plain variable name once upper-cased.
        if matches!(n, "content-type" | "content-length" | "proxy")
            || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            continue;
        }
        let separator = if name == header::COOKIE { "; " } else { ", " };
        let value = r
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(separator);
        let key = format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_"));
        set(&key, value);
    }
    vars
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Reads a CGI response: header lines (`\n` or `\r\n`) to the first blank
/// line, then the body.
pub(super) fn parse_response(
    out: Vec<u8>,
    max_header_block: usize,
    max_body: u64,
) -> Result<GuestResponse, HandlerError> {
    let bad = |m: String| Err(HandlerError::BadResponse(m));
    let mut headers = HeaderMap::new();
    let mut status: Option<StatusCode> = None;
    let mut pos = 0;
    loop {
        let Some(nl) = out[pos..].iter().position(|&b| b == b'\n') else {
            return if pos == 0 && out.is_empty() {
                bad("the handler wrote nothing".into())
            } else {
                bad("no blank line ends the header block".into())
            };
        };
        let mut line = &out[pos..pos + nl];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        pos += nl + 1;
        if pos > max_header_block {
            return bad(format!(
                "the header block is longer than {max_header_block} bytes"
            ));
        }
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return bad(format!("header line {:?} has no ':'", show(line)));
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        let Ok(name) = HeaderName::from_bytes(name) else {
            return bad(format!("invalid header name {:?}", show(name)));
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return bad(format!("invalid value for header {name}"));
        };
        if name.as_str() == "status" {
            let text = value.to_str().unwrap_or("");
            let code = text.split(' ').next().unwrap_or("");
            match code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
            {
                Some(c) if (200..=599).contains(&c.as_u16()) && code.len() == 3 => status = Some(c),
                _ => return bad(format!("invalid Status {:?}", show(value.as_bytes()))),
            }
        } else if !is_hop_by_hop(&name) {
            headers.append(name, value);
        }
    }
    if pos == 1 || pos == 2 && out.starts_with(b"\r\n") {
        return bad("the header block is empty".into());
    }
    let status = status.unwrap_or(if headers.contains_key(header::LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    let body = Bytes::from(out).slice(pos..);
    if body.len() as u64 > max_body {
        return Err(HandlerError::ResponseTooLarge(max_body));
    }
    Ok(GuestResponse {
        status,
        headers,
        body: body.into(),
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Guest bytes for a log line: at most 64 of them, control characters
/// escaped.
fn show(b: &[u8]) -> String {
    let text = String::from_utf8_lossy(&b[..b.len().min(64)]);
    lucet_module::escape_control(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(out: &[u8]) -> Result<GuestResponse, HandlerError> {
        parse_response(out.to_vec(), 1024, 1 << 20)
    }

    #[test]
    fn a_header_block_then_the_body() {
        let r = parse(b"Content-Type: text/plain\r\nX-A:  1 \nX-A: 2\n\nhello\n").unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "text/plain");
        let xa: Vec<_> = r.headers.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(&r.body.full().unwrap()[..], b"hello\n");
    }

    #[test]
    fn status_and_location() {
        let r = parse(b"Status: 404 Not Found\n\n").unwrap();
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.headers.get("status").is_none());
        let r = parse(b"Location: /x\n\n").unwrap();
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.headers["location"], "/x");
        let r = parse(b"Location: /x\nStatus: 301 Moved\n\n").unwrap();
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    }

    #[test]
    fn framing_headers_are_the_servers() {
        let r =
            parse(b"Content-Length: 99\nTransfer-Encoding: chunked\nConnection: close\nX: y\n\nab")
                .unwrap();
        assert_eq!(r.headers.len(), 1);
        assert_eq!(&r.body.full().unwrap()[..], b"ab");
    }

    #[test]
    fn malformed_output_is_refused() {
        for out in [
            &b""[..],
            b"no header block at all",
            b"Content-Type: text/plain\nno blank line",
            b"\nbody without headers",
            b"\r\nbody without headers",
            b"X-Injected: a\rSet-Cookie: evil=1\n\nbody",
            b"Bad Name: x\n\n",
            b"no colon\n\n",
            b"Status: abc\n\n",
            b"Status: 100 Continue\n\n",
            b"Status: 2000\n\n",
            b"X: \x01\n\n",
        ] {
            match parse(out) {
                Err(HandlerError::BadResponse(m)) => assert!(!m.contains('\n'), "{m}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(out)),
            }
        }
    }

    #[test]
    fn limits_hold() {
        let long = format!("X: {}\n\n", "a".repeat(2000));
        assert!(matches!(
            parse(long.as_bytes()),
            Err(HandlerError::BadResponse(_))
        ));
        let big = [b"X: y\n\n".as_slice(), &[b'a'; 101]].concat();
        assert!(matches!(
            parse_response(big, 1024, 100),
            Err(HandlerError::ResponseTooLarge(100))
        ));
    }

    #[test]
    fn argv_follows_rfc_3875() {
        assert_eq!(argv("h", ""), ["h"]);
        assert_eq!(argv("h", "a+b%20c"), ["h", "a", "b c"]);
        assert_eq!(argv("h", "a=1&b"), ["h"]);
        assert_eq!(argv("h", "%00+%zz+%"), ["h", "%00", "%zz", "%"]);
    }
}
