// Fastly Compute test app (JavaScript) for lucet-serve's Fastly ABI support.
// Built to ../js_app.wasm by ../build.sh; see ../README.md for what each path
// answers.

import { ConfigStore } from "fastly:config-store";

function text(status, body, headers = {}) {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain", ...headers },
  });
}

// The backend `/proxy/...` sends to; it must be configured in the server's
// fastly.toml (`[local_server.backends.origin]`).
const ORIGIN = "origin";
const PROXY_PREFIX = "/proxy/";

// `/proxy/<rest>`: sends the request's method, headers and body (none for GET
// and HEAD) to ORIGIN as http://origin/<rest><query>, and answers with the
// backend's response plus `x-proxied: js`.
async function proxy(request, url) {
  const rest = url.pathname.slice(PROXY_PREFIX.length);
  const method = request.method;
  const init = { method, headers: new Headers(request.headers) };
  if (method !== "GET" && method !== "HEAD") {
    init.body = await request.arrayBuffer();
  }
  let resp;
  try {
    resp = await fetch(
      new Request(`http://${ORIGIN}/${rest}${url.search}`, init),
      { backend: ORIGIN },
    );
  } catch (e) {
    return text(502, `send failed: ${e.message}\n`);
  }
  // A fetched response's headers are immutable per the Fetch standard, so
  // the header goes on a copy.
  const headers = new Headers(resp.headers);
  headers.set("x-proxied", "js");
  return new Response(resp.body, {
    status: resp.status,
    statusText: resp.statusText,
    headers,
  });
}

async function handle(request) {
  const url = new URL(request.url);
  if (url.pathname.startsWith(PROXY_PREFIX)) {
    return proxy(request, url);
  }
  switch (url.pathname) {
    case "/hello":
      return text(200, "hello from js\n", { "x-app": "js" });
    case "/echo": {
      const body = await request.text();
      return text(
        200,
        `method=${request.method}\npath=${url.pathname}\nbody=${body}`,
      );
    }
    case "/config": {
      let store;
      try {
        store = new ConfigStore("settings");
      } catch (e) {
        return text(404, "no store\n");
      }
      const key = url.searchParams.get("key");
      const value = key ? store.get(key) : null;
      if (value === null) {
        return text(404, "no key\n");
      }
      return text(200, value);
    }
    case "/sleep":
      await new Promise((resolve) => setTimeout(resolve, 200));
      return text(200, "slept\n");
    default:
      return text(404, "not found\n");
  }
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
