// The host's side of the handshake: read the plugin's single stdout line
// (CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc) within a time limit, and
// check every part of it.
import type { ChildProcess } from "node:child_process";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { HANDSHAKE_CORE_VERSION, PLUGIN_PROTOCOL_VERSIONS } from "../../proto/versions.js";

export interface Handshake {
  coreVersion: number;
  protocolVersion: number;
  network: "unix";
  address: string;
}

/** Parses and checks a handshake line; `who` names the plugin in errors. */
export function parseHandshake(line: string, who: string): Handshake {
  const parts = line.trim().split("|");
  if (parts.length !== 5) {
    throw new WfctlError(
      ErrorCode.PLUGIN_HANDSHAKE_FAILED,
      `${who}: malformed handshake line ${JSON.stringify(line.trim())}; expected CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc`,
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
  if (!address.startsWith("/")) throw new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${who}: socket path "${address}" is not absolute`);
  return { coreVersion: HANDSHAKE_CORE_VERSION, protocolVersion, network: "unix", address };
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
    let buffer = "";
    const cleanup = () => {
      clearTimeout(timer);
      stdout.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const newline = buffer.indexOf("\n");
      if (newline >= 0) {
        cleanup();
        resolve({ line: buffer.slice(0, newline), rest: buffer.slice(newline + 1) });
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
