// Starting a plugin process: a private socket directory, the handshake
// environment (and only the environment the plugin needs: plugin-env.ts),
// pipes for stdout (handshake) and stderr (logs), and a process group of its
// own, so that stopping it stops whatever it started too. The socket
// directory and the handshake environment are proto/plugin-handshake.ts's,
// shared with the conformance kits' plugin starter.
import { type ChildProcess, spawn } from "node:child_process";
import { PLUGIN_SPAWN_OPTIONS, handshakeEnvironment } from "../../proto/plugin-handshake.js";
import type { PluginSpec } from "./catalog.js";
import { pluginEnvironment } from "./plugin-env.js";

export interface SpawnedPlugin {
  child: ChildProcess;
  /** Private (0700) directory holding the plugin's socket; removed on stop. */
  socketDir: string;
}

/**
 * Spawns the plugin as the leader of a new process group, so that
 * signalGroup reaches its children too. The daemon still owns it as usual:
 * the child is not unref'd, its pipes are the daemon's, and the fd 3 pipe
 * tells it when the daemon is gone.
 */
export function spawnPlugin(spec: PluginSpec, socketDir: string, daemonEnv: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(spec.executable, [...spec.args], { env: pluginEnvironment(spec, daemonEnv, handshakeEnvironment(socketDir)), ...PLUGIN_SPAWN_OPTIONS });
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
