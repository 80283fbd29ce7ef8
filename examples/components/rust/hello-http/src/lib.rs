//! A `wasi:http/proxy` component: answers every request with status 200,
//! `content-type: text/plain` and the body `hello from a component: METHOD
//! PATH\n`.

use std::io::Write as _;

use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Hello);

struct Hello;

fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other,
    }
}

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let text = format!(
            "hello from a component: {} {}\n",
            method_name(&request.method()),
            request.path_with_query().unwrap_or_default()
        );
        let headers = Fields::new();
        headers
            .set("content-type", &[b"text/plain".to_vec()])
            .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body, once");
        ResponseOutparam::set(response_out, Ok(response));
        let mut out = body.write().expect("the body's stream, once");
        out.write_all(text.as_bytes()).expect("written");
        out.flush().expect("flushed");
        drop(out);
        OutgoingBody::finish(body, None).expect("finished");
    }
}
