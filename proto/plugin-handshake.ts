// The host's side of the handshake: read the plugin's single stdout line
// (CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc) within a time limit, and
// check every part of it. Shared by wfctld's supervisor and the conformance
// kits' plugin launcher (plugins/conformance/plugin-process.ts).
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { lstat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, WfctlError } from "./errors.js";
import { HANDSHAKE_CORE_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, PARENT_WATCH_FD, PLUGIN_ENV, PLUGIN_PROTOCOL_VERSIONS } from "./versions.js";

/**
 * A fresh private (0700) directory for a plugin's socket. Kept short: Unix
 * socket paths are limited to about 100 bytes.
 */
export function makeSocketDir(): string {
  return mkdtempSync(join(tmpdir(), "wfctl-p-"));
}

/** The variables every plugin is started with: the magic cookie, its socket directory, the protocol versions, the parent-death fd. */
export function handshakeEnvironment(socketDir: string): Record<string, string> {
  return {
    [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
    [PLUGIN_ENV.socketDir]: socketDir,
    [PLUGIN_ENV.protocolVersions]: PLUGIN_PROTOCOL_VERSIONS.join(","),
    [PLUGIN_ENV.parentFd]: String(PARENT_WATCH_FD),
  };
}

/**
 * How a plugin process is spawned: the leader of a process group of its own
 * (so stopping it reaches whatever it started), stdin closed, stdout (the
 * handshake) and stderr (logs) piped, and fd 3 the parent-death pipe: the
 * host holds the other end and never writes to it; when the host dies the
 * plugin reads end-of-file.
 */
export const PLUGIN_SPAWN_OPTIONS = { detached: true, stdio: ["ignore", "pipe", "pipe", "pipe"] } as const satisfies SpawnOptions;

/** Whether a plugin file is run with Node.js (a .js, .mjs or .cjs entry point) rather than executed. */
export function runsWithNode(path: string): boolean {
  return /\.(m|c)?js$/.test(path);
}

export interface Handshake {
  coreVersion: number;
  protocolVersion: number;
  network: "unix";
  address: string;
}

/**
 * Longest handshake line read, in bytes. A plugin that wrote 200 MB to stdout
 * without a newline once grew the daemon by as much; past this it has failed
 * its handshake.
 */
export const MAX_HANDSHAKE_LINE = 64 * 1024;

/** What a plugin sent, quoted for an error: JSON-escaped, at most 200 characters. */
export function quoteSent(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 200 ? `${JSON.stringify(trimmed.slice(0, 200))}… (${trimmed.length} characters)` : JSON.stringify(trimmed);
}

/** Parses and checks a handshake line; `who` names the plugin in errors. */
export function parseHandshake(line: string, who: string): Handshake {
  const parts = line.trim().split("|");
  if (parts.length !== 5) {
    throw new WfctlError(
      ErrorCode.PLUGIN_HANDSHAKE_FAILED,
      `${who}: malformed handshake line ${quoteSent(line)}; expected CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc`,
    );
  }
  const [core, app, network, address, protocol] = parts as [string, string, string, string, string];
  if (Number(core) !== HANDSHAKE_CORE_VERSION) {
    throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${who}: handshake core version ${core}, but this host speaks ${HANDSHAKE_CORE_VERSION}`);
  }
  const protocolVersion = Number(app);
  if (!PLUGIN_PROTOCOL_VERSIONS.includes(protocolVersion)) {
    throw new WfctlError(
      ErrorCode.PLUGIN_INCOMPATIBLE,
      `${who}: plugin speaks wfctl.plugin protocol version ${app}, but this host speaks ${PLUGIN_PROTOCOL_VERSIONS.join(", ")}`,
    );
  }
  if (network !== "unix") throw new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${who}: network "${network}" is not supported (only unix)`);
  if (protocol !== "grpc") throw new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${who}: protocol "${protocol}" is not supported (only grpc)`);
  if (!address.startsWith("/")) throw new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${who}: socket path ${quoteSent(address)} is not absolute`);
  return { coreVersion: HANDSHAKE_CORE_VERSION, protocolVersion, network: "unix", address };
}

/**
 * Checks that the socket a handshake names is there and is a socket, so that
 * a wrong path fails naming the plugin and what it sent, not with gRPC's
 * "No connection established … Resolution note".
 */
export async function checkHandshakeSocket(handshake: Handshake, line: string, who: string): Promise<void> {
  let why: string | undefined;
  try {
    const stats = await lstat(handshake.address);
    if (!stats.isSocket()) why = "which is not a socket";
  } catch (err) {
    why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "which does not exist" : `which cannot be examined (${(err as Error).message})`;
  }
  if (why) throw new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${who}: its handshake line ${quoteSent(line)} names the socket ${handshake.address}, ${why}`);
}

/** A failure to reach the plugin at the socket its handshake named, saying which plugin and what it sent. */
export function unreachable(err: unknown, line: string, who: string): WfctlError {
  const error = WfctlError.from(err, ErrorCode.PLUGIN_HANDSHAKE_FAILED);
  if (error.message.startsWith(who)) return error;
  const reason = error.message.replace(/\s*Resolution note:.*$/s, "");
  return error.rephrased(`${who}: not reachable at the socket its handshake line ${quoteSent(line)} names: ${reason}`);
}

/** Why the process ended, in words. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code ?? "unknown"}`;
}

/**
 * Waits for the first stdout line. Rejects if the process exits first, fails
 * to start, or stays silent past `timeoutMs`; `failure` builds the error with
 * the plugin's last stderr lines.
 */
export function readHandshake(
  child: ChildProcess,
  timeoutMs: number,
  failure: (reason: string) => WfctlError,
): Promise<{ line: string; rest: string }> {
  return new Promise((resolve, reject) => {
    const stdout = child.stdout;
    if (!stdout) {
      reject(failure("has no stdout pipe"));
      return;
    }
    const chunks: Buffer[] = [];
    let held = 0;
    const cleanup = () => {
      clearTimeout(timer);
      stdout.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      if (newline >= 0 && held + newline <= MAX_HANDSHAKE_LINE) {
        cleanup();
        const all = Buffer.concat([...chunks, chunk]);
        resolve({ line: all.toString("utf8", 0, held + newline), rest: all.toString("utf8", held + newline + 1) });
        return;
      }
      chunks.push(chunk);
      held += chunk.length;
      if (held > MAX_HANDSHAKE_LINE) {
        cleanup();
        // Whatever more it writes is read and dropped (the stream keeps flowing) until it is stopped.
        const start = Buffer.concat(chunks).toString("utf8", 0, 200);
        reject(failure(`wrote more than ${MAX_HANDSHAKE_LINE} bytes to stdout without a newline instead of its handshake line (it began ${quoteSent(start)})`));
      }
    };
    // Let stderr drain for a moment so the quoted lines include the reason.
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      setTimeout(() => reject(failure(`${describeExit(code, signal)} before completing its handshake`)), 50);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(failure(`could not be started: ${err.message}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(failure(`did not complete its handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    stdout.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}
