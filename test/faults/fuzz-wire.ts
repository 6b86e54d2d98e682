// How the fuzz test reaches the daemon's socket: as curl does (HTTP/1.1,
// Connect JSON or binary), as a gRPC client does (HTTP/2, gRPC framing), and
// as a broken client does (raw bytes, a body shorter than its declared
// length). Every exchange is bounded in time: a client that gives up is part
// of what the daemon must survive.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

/** What came back: an HTTP status (0: none, the connection ended or was dropped) and the start of the body. */
export interface Answer {
  status: number;
  body: string;
  /** grpc-status from the trailers or headers, when the answer was gRPC. */
  grpcStatus?: string;
  /**
   * The exchange's time ran out before it ended: the client stopped it. With
   * a status (or, raw, some bytes back) the daemon had answered and was still
   * streaming; without, it had not answered at all.
   */
  gaveUp?: boolean;
}

/** One HTTP/1.1 exchange over the Unix socket. */
export function http1(
  socket: string,
  request: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer },
  timeoutMs: number,
): Promise<Answer> {
  return new Promise((resolve) => {
    const body = request.body ?? Buffer.alloc(0);
    let settled = false;
    let status = 0;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(answer);
    };
    const req = http.request(
      {
        socketPath: socket,
        method: request.method ?? "POST",
        path: request.path,
        headers: { "content-length": String(body.length), ...request.headers },
        agent: false,
      },
      (res) => {
        status = res.statusCode ?? 0;
        let text = "";
        res.on("data", (c: Buffer) => {
          if (text.length < 2000) text += c.toString("utf8");
        });
        res.on("end", () => finish({ status: res.statusCode ?? 0, body: text }));
        res.on("error", () => finish({ status: res.statusCode ?? 0, body: text }));
      },
    );
    const timer = setTimeout(() => finish({ status, body: "(gave up waiting)", gaveUp: true }), timeoutMs);
    req.on("error", () => finish({ status: 0, body: "(connection error)" }));
    req.end(body);
  });
}

/** Bytes written straight to the socket, then the connection closed (or given up on). */
export function raw(socket: string, bytes: Buffer, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    let text = "";
    let settled = false;
    const finish = (gaveUp = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status ? Number(status) : 0, body: text.slice(0, 2000), ...(gaveUp ? { gaveUp } : {}) });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    connection.on("data", (c: Buffer) => {
      if (text.length < 2000) text += c.toString("latin1");
    });
    connection.on("error", () => finish());
    connection.on("close", () => finish());
    connection.on("connect", () => connection.end(bytes));
  });
}

/** An HTTP/2 session to the socket, for many gRPC exchanges. */
export function h2Session(socket: string): http2.ClientHttp2Session {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(socket) });
  // A session the daemon closes (a protocol error on it) is replaced by the caller.
  session.on("error", () => {});
  return session;
}

/** One HTTP/2 exchange on `session`: headers (":path" and the rest) and a body. */
export function h2(session: http2.ClientHttp2Session, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ":method": "POST", ...headers });
    } catch {
      resolve({ status: 0, body: "(session closed)" });
      return;
    }
    let status = 0;
    let grpcStatus: string | undefined;
    let text = "";
    let settled = false;
    const finish = (gaveUp = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve({ status, body: text.slice(0, 2000), grpcStatus, ...(gaveUp ? { gaveUp } : {}) });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    stream.on("response", (h) => {
      status = Number(h[":status"] ?? 0);
      if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
    });
    stream.on("trailers", (t) => {
      if (t["grpc-status"] !== undefined) grpcStatus = String(t["grpc-status"]);
    });
    stream.on("data", (c: Buffer) => {
      if (text.length < 2000) text += c.toString("latin1");
    });
    stream.on("end", () => finish());
    stream.on("close", () => finish());
    stream.on("error", () => finish());
    stream.end(body);
  });
}

/** A gRPC / Connect-streaming envelope: flags, a 4-byte length (what it claims, by default the payload's) and the payload. */
export function envelope(payload: Buffer, flags = 0, claimedLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(claimedLength >>> 0, 1);
  return Buffer.concat([head, payload]);
}

/**
 * The daemon's Status as curl would ask for it (Connect JSON over HTTP/1.1).
 * `timeoutMs` only bounds a daemon that never answers; a daemon busy writing
 * a heap snapshot (which blocks its event loop for as long as the disk and a
 * loaded machine take) answers when it is done, so callers that ask right
 * after one give it far longer than a usual exchange.
 */
export async function status(
  socket: string,
  timeoutMs = 10_000,
): Promise<{ pid: number; rss: number; heapUsed: number; uncaught: number; lastUncaught: string; active: number }> {
  const answer = await http1(socket, { path: "/wfctl.daemon.v1.DaemonService/Status", headers: { "content-type": "application/json" }, body: Buffer.from("{}") }, timeoutMs);
  if (answer.status !== 200) throw new Error(`Status did not answer (HTTP ${answer.status}): ${answer.body}`);
  const s = JSON.parse(answer.body) as Record<string, string | number | undefined>;
  return {
    pid: Number(s["pid"]),
    rss: Number(s["rssBytes"] ?? 0),
    heapUsed: Number(s["heapUsedBytes"] ?? 0),
    uncaught: Number(s["uncaughtErrors"] ?? 0),
    lastUncaught: String(s["lastUncaughtError"] ?? ""),
    active: Number(s["activeOperations"] ?? 0),
  };
}
