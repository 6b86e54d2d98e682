// A throwaway PostgreSQL for the tests: a fresh cluster from a directory of
// server binaries (initdb + postgres on a free loopback port, trust auth, data
// in a temporary directory; postgres-binaries.ts finds the binaries), or the
// server DATABASE_URL names. PostgreSQL refuses to run as root, so as root the
// cluster runs as `nobody`.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { stopProcess } from "./process.js";

export interface PostgresServer {
  /** Connection string of a database the tests may use freely. */
  url: string;
  /** How it was found, for messages. */
  origin: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`postgres exited with code ${child.exitCode}:\n${log()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`postgres did not accept connections within ${timeoutMs} ms (${last}):\n${log()}`);
}

/** A fresh cluster's data directory (initdb), owned by who will run it: trust auth, or with `password`, scram-sha-256 for every connection. */
function initCluster(bin: string, password?: string): { dir: string; data: string; ids: { uid?: number; gid?: number }; password?: string } {
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? { uid: 65534, gid: 65534 } : {};
  const dir = mkdtempSync(join(tmpdir(), "wft-pg-"));
  const data = join(dir, "data");
  if (asRoot) {
    chownSync(dir, 65534, 65534);
    chmodSync(dir, 0o700);
  }
  const pwfile = join(dir, "pwfile");
  const auth = password === undefined ? ["--auth=trust"] : ["--auth=scram-sha-256", `--pwfile=${pwfile}`];
  if (password !== undefined) {
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (asRoot) chownSync(pwfile, 65534, 65534);
  }
  try {
    execFileSync(join(bin, "initdb"), ["-D", data, "-U", "postgres", ...auth, "--no-sync", "-E", "UTF8", "--locale=C"], { ...ids, stdio: "pipe" });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`initdb failed: ${e.stderr?.toString() ?? e.message}`);
  }
  rmSync(pwfile, { force: true });
  return { dir, data, ids, ...(password === undefined ? {} : { password }) };
}

/** The superuser's connection string of a cluster on `port`. */
function superuserUrl(cluster: ReturnType<typeof initCluster>, port: number): string {
  return `postgres://postgres${cluster.password === undefined ? "" : `:${encodeURIComponent(cluster.password)}`}@127.0.0.1:${port}/postgres`;
}

/** Runs the server of a cluster on `port` until `stop()` (fast shutdown); resolves once it accepts connections. */
async function runServer(bin: string, cluster: ReturnType<typeof initCluster>, port: number): Promise<{ stop: () => Promise<void> }> {
  let log = "";
  const child = spawn(
    join(bin, "postgres"),
    ["-D", cluster.data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${cluster.dir}`, "-c", "fsync=off", "-c", "max_connections=200"],
    { ...cluster.ids, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  child.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const stop = () => stopProcess(child, "SIGINT", 10_000); // SIGINT: PostgreSQL's fast shutdown
  try {
    await waitReady(superuserUrl(cluster, port), child, () => log, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

/**
 * Starts a fresh cluster from `bin`; stop() kills it and removes its data.
 * With `password`, every connection must give one (scram-sha-256), the
 * superuser's being `password` (in `url`).
 */
export async function startPostgres(bin: string, password?: string): Promise<PostgresServer> {
  const cluster = initCluster(bin, password);
  const port = await freePort();
  let server: { stop: () => Promise<void> };
  try {
    server = await runServer(bin, cluster, port);
  } catch (err) {
    rmSync(cluster.dir, { recursive: true, force: true });
    throw err;
  }
  const url = superuserUrl(cluster, port);
  const stop = async () => {
    await server.stop();
    rmSync(cluster.dir, { recursive: true, force: true });
  };
  return { url, origin: `a throwaway cluster from ${bin} on port ${port}`, stop };
}

/** A throwaway cluster a test may stop and start again (same data, same port), to inflict an outage. */
export interface RestartablePostgres extends PostgresServer {
  /** Stops the server (fast shutdown: connections are cut); its data stays. */
  halt(): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  resume(): Promise<void>;
}

export async function startRestartablePostgres(bin: string): Promise<RestartablePostgres> {
  const cluster = initCluster(bin);
  const port = await freePort();
  let server: { stop: () => Promise<void> } | undefined;
  try {
    server = await runServer(bin, cluster, port);
  } catch (err) {
    rmSync(cluster.dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    origin: `a restartable cluster from ${bin} on port ${port}`,
    halt: async () => {
      await server?.stop();
      server = undefined;
    },
    resume: async () => {
      server ??= await runServer(bin, cluster, port);
    },
    stop: async () => {
      await server?.stop();
      server = undefined;
      rmSync(cluster.dir, { recursive: true, force: true });
    },
  };
}

/** A database named `name` on the server, created if missing; its connection string. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
