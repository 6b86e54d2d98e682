// Versions and handshake constants shared by the daemon, the client and the
// plugin SDK. Changing a value here is a protocol change.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The version a bundled plugin carries in itself: plugins/bundle.mjs
 * replaces this name with its package's version (rolldown `define`), so the
 * one file runs and reports its version wherever it is copied. Undeclared
 * (typeof: "undefined") everywhere else.
 */
declare const __WFCTL_BUNDLED_VERSION__: string | undefined;
const BUNDLED_VERSION: string | undefined = typeof __WFCTL_BUNDLED_VERSION__ === "string" ? __WFCTL_BUNDLED_VERSION__ : undefined;

/**
 * The root of the package this code runs from: the nearest directory above
 * this module whose package.json is wfctl's or one of its own packages'
 * (`@wfctl/*`: a bundled plugin, the plugin SDK). Works from sources, from
 * dist/ and from a bundle alike; a bundle with none above it is its own root.
 */
export const PACKAGE_ROOT: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "wfctl" || pkg.name?.startsWith("@wfctl/")) return dir;
    } catch {
      // no package.json here; keep walking up
    }
    if (dirname(dir) === dir) {
      if (BUNDLED_VERSION !== undefined) return start;
      throw new Error(`wfctl: cannot find wfctl's package.json above ${start}`);
    }
  }
}

/** The release of that package (wfctl's, or a plugin's own), read from its package.json so there is one source of truth. */
export const WFCTL_VERSION: string =
  BUNDLED_VERSION ?? (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;

/**
 * This build of wfctl: a random id written to dist/build-id by every build
 * (client/bundle.mjs, its last step), read by the client and the daemon
 * alike. Two builds of the same version (an upgrade in place, a rebuilt
 * checkout) differ here, and a daemon refuses a client of another build.
 * Empty when there is no build (nothing to compare).
 */
export const WFCTL_BUILD: string = readBuildId();

function readBuildId(): string {
  try {
    const id = readFileSync(join(PACKAGE_ROOT, "dist", "build-id"), "utf8").trim();
    return /^[0-9a-f-]{8,64}$/.test(id) ? id : "";
  } catch {
    return "";
  }
}

/** go-plugin's "core protocol version": the shape of the handshake line. */
export const HANDSHAKE_CORE_VERSION = 1;

/** wfctl.plugin protocol versions this build speaks, newest first. */
export const PLUGIN_PROTOCOL_VERSIONS: readonly number[] = [1];

/**
 * The magic cookie: not a security measure, only a guard so that a plugin run
 * by hand explains itself instead of waiting for a host that never comes.
 */
export const MAGIC_COOKIE_KEY = "WFCTL_PLUGIN_MAGIC_COOKIE";
export const MAGIC_COOKIE_VALUE = "7c1f5e0a-wfctl-plugin-host-b2d84c19";

/** Environment variables the host sets for a plugin it starts. */
export const PLUGIN_ENV = {
  socketDir: "WFCTL_PLUGIN_SOCKET_DIR",
  protocolVersions: "WFCTL_PLUGIN_PROTOCOL_VERSIONS",
  /**
   * A file descriptor the plugin inherits from its host and only watches: it
   * reaches end-of-file when the host process is gone, however it died
   * (SIGKILL included), and the plugin then shuts itself down.
   */
  parentFd: "WFCTL_PLUGIN_PARENT_FD",
} as const;

/** The descriptor number the host passes as PLUGIN_ENV.parentFd (stdin, stdout, stderr come first). */
export const PARENT_WATCH_FD = 3;

/** Header in which a client states its version to the daemon. */
export const CLIENT_VERSION_HEADER = "wfctl-client-version";

/** Header in which a client states its build (WFCTL_BUILD) to the daemon. */
export const CLIENT_BUILD_HEADER = "wfctl-client-build";

/** Largest gRPC message either side of the plugin boundary accepts (state can be large). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Largest request the daemon's socket API reads. Requests carry a target, a
 * caller and a few ids and numbers: a few KiB. A bound well under the
 * responses' keeps a hostile or broken client from making the daemon buffer
 * hundreds of MiB per call.
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * Largest response a client of the socket API reads: protobuf's own limit
 * (2 GiB − 1). A plan or apply report carries every planned value, so it grows
 * with the configuration (17 files of 4 MiB make a 68 MiB report); the work is
 * done by the time it arrives, and refusing it would only hide what was done.
 */
export const MAX_RESPONSE_BYTES = 2 ** 31 - 1;
