// A wasi:http/proxy component in JavaScript, made with componentize-js:
// answers every request with status 200, `content-type: text/plain` and
// the body `hello from a JavaScript component: METHOD PATH\n`.

import { ResponseOutparam, OutgoingResponse, OutgoingBody, Fields } from 'wasi:http/types@0.2.10';

export const incomingHandler = {
  handle(request, responseOut) {
    const headers = new Fields();
    headers.set('content-type', [new TextEncoder().encode('text/plain')]);
    const response = new OutgoingResponse(headers);
    const body = response.body();
    ResponseOutparam.set(responseOut, { tag: 'ok', val: response });
    const method = request.method();
    const text = `hello from a JavaScript component: ${method.tag.toUpperCase()} ${request.pathWithQuery()}\n`;
    const stream = body.write();
    stream.blockingWriteAndFlush(new TextEncoder().encode(text));
    stream[Symbol.dispose]();
    OutgoingBody.finish(body, undefined);
  },
};
