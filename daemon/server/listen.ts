// One Unix socket, two HTTP versions: a connection that opens with the HTTP/2
// preface goes to an HTTP/2 server (gRPC and Connect clients), anything else
// to an HTTP/1.1 server (Connect clients, curl). Both run the same handler.
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

const H2_PREFACE = "PRI * HTTP/2.0";

/** Told of a client connection's error (a reset, a malformed frame): the connection is dropped, nothing else. */
export type ConnectionErrorSink = (err: Error, where: string) => void;

/** One socket server for both HTTP versions; `onError` hears of each client connection that fails. */
export function createDualServer(handler: Handler, onError: ConnectionErrorSink = () => {}): DualServer {
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = 5_000;
  // A malformed HTTP/1.1 request needs nothing here: without a 'clientError'
  // listener, Node answers 400 (or 431, 408) and closes the connection.
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  h2.on("sessionError", (err: Error) => onError(err, "http/2 session"));
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const server = net.createServer((socket) => {
    // Who connected is looked up only if a call needs it (peer.ts).
    watchPeer(socket);
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      // "PRI" starts only the HTTP/2 preface; no HTTP/1.1 method does.
      const prefix = H2_PREFACE.slice(0, 3);
      if (head.length < prefix.length && prefix.startsWith(head.toString("latin1"))) return; // too short to tell yet
      socket.off("data", sniff);
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
