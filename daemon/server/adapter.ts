// The socket's Connect adapter: what connect-node's connectNodeAdapter does
// (route by path, run the universal handler, write its answer), plus what it
// lacks. A request whose message does not parse is the caller's error:
// Connect reports binary ones as its own ("parse binary: …", INTERNAL, HTTP
// 500), so the body is checked on its way in (request-check.ts) and the call
// fails with INVALID_ARGUMENT naming what is wrong. A request Connect cannot
// even describe (no Host header, an authority no URL takes) is answered 400
// instead of throwing out of the request listener. And an exchange whose
// answer cannot be made or written is ended, never left open.
import type * as http from "node:http";
import * as http2 from "node:http2";
import { type ConnectRouterOptions, type ContextValues, type Interceptor, createConnectRouter, createContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { bodyFormat, checkedBody, malformedKey } from "./request-check.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Fails a call whose binary request did not parse, before any handler sees
 * it (the message it got is empty). A unary call's body is read before the
 * interceptors run; a streamed call's as its handler takes its message, so
 * there the check comes with each message.
 */
export const refuseMalformed: Interceptor = (next) => async (req) => {
  const check = () => {
    const why = req.contextValues.get(malformedKey);
    if (why !== undefined) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `malformed ${req.method.name} request: ${why}`);
  };
  if (!req.stream) {
    check();
    return next(req);
  }
  const messages = req.message;
  async function* checked() {
    for await (const message of messages) {
      check();
      yield message;
    }
  }
  return next({ ...req, message: checked() });
};

/** Ends an exchange no answer can be written to: an HTTP/2 stream is reset, an HTTP/1.1 connection closed (after a 500 if nothing was sent). */
function abandon(res: NodeResponse): void {
  if ("stream" in res) {
    if (!res.stream.destroyed) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(500, { "content-type": "text/plain", connection: "close" });
    res.end("the answer could not be written\n");
  } else {
    res.destroy();
  }
}

export interface AdapterOptions extends ConnectRouterOptions {
  routes: (router: ReturnType<typeof createConnectRouter>) => void;
  /** Largest request read; the body check passes larger ones on unchecked (Connect refuses them). */
  readMaxBytes: number;
  /** Told of a call whose answer could not be written (the client went away, mostly). */
  onWriteError?: (err: unknown, method: string) => void;
  /** The context values each call starts with (its connection's peer, say). */
  contextValues?: (req: NodeRequest) => ContextValues;
}

/** The Node request handler serving the routes (see the top of this file). */
export function daemonNodeAdapter(options: AdapterOptions): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const paths = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const values = options.contextValues?.(req) ?? createContextValues();
    let uReq: ReturnType<typeof universalRequestFromNodeRequest>;
    try {
      uReq = universalRequestFromNodeRequest(req, res as http.ServerResponse, undefined, values);
    } catch (err) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`bad request: ${(err as Error).message}\n`);
      return;
    }
    const format = bodyFormat(req);
    const declared = Number(req.headers["content-length"] ?? 0);
    // A body declared too large is left to Connect, which refuses it before reading it.
    if (format && !(declared > options.readMaxBytes)) {
      uReq.body = checkedBody(uReq.body as AsyncIterable<Uint8Array>, handler.method.input, format, values, options.readMaxBytes + 5);
      // What reaches Connect may be shorter than what was sent (an invalid message emptied); Node has framed the body already.
      uReq.header.delete("content-length");
    }
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as http.ServerResponse))
      .catch((err: unknown) => {
        // The client went away mid-answer, or no answer could be made or written: the exchange ends here, never left open.
        options.onWriteError?.(err, handler.method.name);
        abandon(res);
      });
  };
}
