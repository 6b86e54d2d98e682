// Runs the real wfctld in the foreground, for tests of whether it starts.
import { spawn } from "node:child_process";
import { WFCTLD } from "./paths.js";

/**
 * Runs wfctld with `args` (and `env` over this process's, with neither
 * XDG_RUNTIME_DIR nor WFCTL_SOCKET unless given) until it exits: its exit
 * code and stderr. For a daemon expected to refuse to start.
 */
export function wfctldUntilExit(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WFCTLD, ...args], {
      env: { ...process.env, XDG_RUNTIME_DIR: undefined, WFCTL_SOCKET: undefined, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stderr }));
  });
}
