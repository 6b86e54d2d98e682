// Starting a plugin process: a private socket directory, the handshake
// environment (and only the environment the plugin needs: plugin-env.ts),
// pipes for stdout (handshake) and stderr (logs), and a process group of its
// own, so that stopping it stops whatever it started too.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, PARENT_WATCH_FD, PLUGIN_ENV, PLUGIN_PROTOCOL_VERSIONS } from "../../proto/versions.js";
import type { PluginSpec } from "./catalog.js";
import { pluginEnvironment } from "./plugin-env.js";

export interface SpawnedPlugin {
  child: ChildProcess;
  /** Private (0700) directory holding the plugin's socket; removed on stop. */
  socketDir: string;
}

/**
 * A fresh private directory for a plugin's socket. Kept short: Unix socket
 * paths are limited to about 100 bytes.
 */
export function makeSocketDir(): string {
  return mkdtempSync(join(tmpdir(), "wfctl-p-"));
}

/**
 * Spawns the plugin as the leader of a new process group (`detached`), so
 * that signalGroup reaches its children too. The daemon still owns it as
 * usual: the child is not unref'd, its pipes are the daemon's, and the fd 3
 * pipe tells it when the daemon is gone.
 */
export function spawnPlugin(spec: PluginSpec, socketDir: string, daemonEnv: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(spec.executable, [...spec.args], {
    env: pluginEnvironment(spec, daemonEnv, {
      [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
      [PLUGIN_ENV.socketDir]: socketDir,
      [PLUGIN_ENV.protocolVersions]: PLUGIN_PROTOCOL_VERSIONS.join(","),
      [PLUGIN_ENV.parentFd]: String(PARENT_WATCH_FD),
    }),
    detached: true,
    // fd 3 is the parent-death pipe: this process holds the other end and
    // never writes to it; when this process dies the plugin reads EOF.
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
}

/**
 * Sends `signal` to the plugin's whole process group (the plugin and every
 * process it started that did not leave the group). Falls back to the plugin
 * alone when there is no group to signal (ESRCH: it is gone with all its
 * children; EPERM: not ours). Returns whether a group was signalled.
 */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  const pid = child.pid;
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return false;
  }
}
