// Local TCP and HTTP servers a test starts and stops: each on a free port of
// 127.0.0.1, every connection tracked so closing does not wait for a client
// that keeps one open (a server that never answers, for instance).
import { type AddressInfo, type Server, type Socket, createServer } from "node:net";

export class Listeners {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  /** Starts `server` on a free port of 127.0.0.1; resolves to the port. */
  listen(server: Server): Promise<number> {
    this.servers.push(server);
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  }

  /** Drops every connection and closes every server. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** A port of 127.0.0.1 nothing listens on (it was free a moment ago): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  await new Promise((resolve) => server.close(resolve));
  return port;
}
