// Stopping a test server's process: a polite signal, then SIGKILL if it lingers.
import type { ChildProcess } from "node:child_process";

/** Sends `signal`, waits for the exit up to `graceMs`, then kills; resolves once it is gone (or at once if it already is). */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve();
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
