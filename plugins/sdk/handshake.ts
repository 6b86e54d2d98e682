// The plugin's side of the go-plugin-style handshake: refuse to run without
// the host's magic cookie, choose a protocol version the host speaks, and
// announce the socket on stdout in one line.
import {
  HANDSHAKE_CORE_VERSION,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  PLUGIN_ENV,
  PLUGIN_PROTOCOL_VERSIONS,
} from "../../proto/versions.js";

/** Why a plugin cannot start; the message is written to stderr before exiting. */
export class HandshakeRefusal extends Error {
  override name = "HandshakeRefusal";
}

/** What the host told the plugin through its environment. */
export interface HostEnvironment {
  socketDir: string;
  protocolVersion: number;
  /** Descriptor that reaches EOF when the host dies (absent when the host gives none). */
  parentFd: number | undefined;
}

/** Reads and checks the host's environment; throws HandshakeRefusal if not started by wfctl. */
export function readHostEnvironment(env: NodeJS.ProcessEnv, pluginName: string): HostEnvironment {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    throw new HandshakeRefusal(
      `This program is the wfctl plugin "${pluginName}". Plugins are started by wfctld (or wfctl --no-daemon), ` +
        `not by hand: it expects ${MAGIC_COOKIE_KEY} in its environment. ` +
        `Run a wfctl command instead, e.g. \`wfctl plugins list\`.`,
    );
  }
  const socketDir = env[PLUGIN_ENV.socketDir];
  if (!socketDir) throw new HandshakeRefusal(`${PLUGIN_ENV.socketDir} is not set: the host must give the plugin a socket directory`);
  const offered = (env[PLUGIN_ENV.protocolVersions] ?? "")
    .split(",")
    .map((v) => Number.parseInt(v.trim(), 10))
    .filter((v) => Number.isInteger(v));
  const common = PLUGIN_PROTOCOL_VERSIONS.filter((v) => offered.includes(v));
  const chosen = common.length > 0 ? Math.max(...common) : undefined;
  if (chosen === undefined) {
    throw new HandshakeRefusal(
      `incompatible plugin protocol: host speaks version(s) [${offered.join(", ") || "none"}], ` +
        `plugin "${pluginName}" speaks [${PLUGIN_PROTOCOL_VERSIONS.join(", ")}]`,
    );
  }
  const fd = Number.parseInt(env[PLUGIN_ENV.parentFd] ?? "", 10);
  return { socketDir, protocolVersion: chosen, parentFd: Number.isInteger(fd) && fd > 2 ? fd : undefined };
}

/** The single stdout line: CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc. */
export function handshakeLine(protocolVersion: number, socketPath: string): string {
  return `${HANDSHAKE_CORE_VERSION}|${protocolVersion}|unix|${socketPath}|grpc\n`;
}
