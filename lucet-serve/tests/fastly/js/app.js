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

async function handle(request) {
  const url = new URL(request.url);
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
    default:
      return text(404, "not found\n");
  }
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
