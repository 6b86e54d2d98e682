// One Unix socket, two HTTP versions: a connection that opens with the HTTP/2
// preface goes to an HTTP/2 server (gRPC and Connect clients), anything else
// to an HTTP/1.1 server (Connect clients, curl). Both run the same handler.
// Neither server listens itself (the socket's server hands them connections),
// so the bounds a listening server gets from Node are set up here: how long
// a connection may take to send a request's headers, and the whole request,
// and how long it may sit idle. A response is never bounded: streamed calls
// (WatchOperation, PluginLogs --follow) stay open as long as they need.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { watchPeer } from "./peer.js";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface DualServer {
  server: net.Server;
  /** Closes idle keep-alive connections and HTTP/2 sessions so close() can finish. */
  closeConnections(): void;
}

/** How long a client connection may take over each part of a request (wfctld's --headers-timeout, --request-timeout, --idle-connection-timeout). */
export interface ConnectionTimeouts {
  /** A new connection's first bytes, and each request's headers, must arrive within this. */
  headersMs: number;
  /** Each request, body included, must arrive within this from its start. At least headersMs. */
  requestMs: number;
  /** A connection with no request in progress is closed after this long. */
  idleMs: number;
}

export const DEFAULT_CONNECTION_TIMEOUTS: Readonly<ConnectionTimeouts> = { headersMs: 10_000, requestMs: 60_000, idleMs: 60_000 };

const H2_PREFACE = "PRI * HTTP/2.0";

/** Told of a client connection's error (a reset, a malformed frame): the connection is dropped, nothing else. */
export type ConnectionErrorSink = (err: Error, where: string) => void;

/**
 * The HTTP/1.1 server, with Node's own bounds: headersTimeout and
 * requestTimeout (answered 408, then closed) and keepAliveTimeout. Node
 * checks the first two only on a server that emitted 'listening' (that is
 * where it starts tracking connections); one that is handed connections never
 * does, and a client trickling its headers stayed connected past 400 s.
 */
function http1Server(handler: Handler, t: ConnectionTimeouts): http.Server {
  const h1 = http.createServer(
    {
      headersTimeout: t.headersMs,
      requestTimeout: Math.max(t.requestMs, t.headersMs),
      keepAliveTimeout: t.idleMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(t.headersMs / 4))),
    },
    handler as http.RequestListener,
  );
  // A malformed HTTP/1.1 request needs nothing here: without a 'clientError'
  // listener, Node answers 400 (or 431, 408) and closes the connection.
  h1.emit("listening");
  return h1;
}

/**
 * The HTTP/2 server. A session with no stream open is closed after idleMs
 * (frames that open no stream, such as pings or a trickled header block, do
 * not keep it); each stream's request must end within requestMs.
 */
function http2Server(handler: Handler, t: ConnectionTimeouts, onError: ConnectionErrorSink): { h2: http2.Http2Server; sessions: Set<http2.ServerHttp2Session> } {
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  h2.on("sessionError", (err: Error) => onError(err, "http/2 session"));
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      idle = setTimeout(() => {
        session.close();
        // A peer that does not answer the GOAWAY is cut off.
        setTimeout(() => session.destroy(), 1000).unref();
      }, t.idleMs).unref();
    };
    armIdle();
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      const late = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), Math.max(t.requestMs, t.headersMs)).unref();
      stream.once("end", () => clearTimeout(late));
      stream.once("close", () => {
        clearTimeout(late);
        if (--open === 0 && !session.closed) armIdle();
      });
    });
    session.once("close", () => {
      clearTimeout(idle);
      sessions.delete(session);
    });
  });
  return { h2, sessions };
}

/** One socket server for both HTTP versions; `onError` hears of each client connection that fails. */
export function createDualServer(handler: Handler, onError: ConnectionErrorSink = () => {}, timeouts: ConnectionTimeouts = DEFAULT_CONNECTION_TIMEOUTS): DualServer {
  const h1 = http1Server(handler, timeouts);
  const { h2, sessions } = http2Server(handler, timeouts, onError);
  const server = net.createServer((socket) => {
    // Who connected is looked up only if a call needs it (peer.ts).
    watchPeer(socket);
    // Until it says which HTTP it speaks, a connection has headersMs to send its first bytes.
    const silent = () => socket.destroy();
    socket.setTimeout(timeouts.headersMs, silent);
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      // "PRI" starts only the HTTP/2 preface; no HTTP/1.1 method does.
      const prefix = H2_PREFACE.slice(0, 3);
      if (head.length < prefix.length && prefix.startsWith(head.toString("latin1"))) return; // too short to tell yet
      socket.off("data", sniff);
      socket.off("timeout", silent);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(head);
      if (head.toString("latin1", 0, prefix.length) === prefix) {
        // The HTTP/2 session reads the socket's handle itself and drains the
        // unshifted bytes on the next tick; resuming here would lose them.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", sniff);
    socket.on("error", (err) => {
      onError(err, "socket");
      socket.destroy();
    });
  });
  return {
    server,
    closeConnections() {
      h1.closeAllConnections();
      for (const session of sessions) session.close();
    },
  };
}
