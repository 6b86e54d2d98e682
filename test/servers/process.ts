// A test server's process: starting an emulator that prints its port,
// waiting for that port, and stopping it (a polite signal, then SIGKILL if it
// lingers).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LoopbackServer {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  endpoint: string;
  /** Ends the process and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Runs `node <args(directory)>`, where `directory` is a fresh temporary
 * directory for the server's data (also its TMPDIR), and waits for it to
 * print {"port":N} on its first line. The server ends when stop() is called
 * or when its stdin closes (the test process went away).
 */
export async function startLoopbackServer(name: string, args: (directory: string) => string[], timeoutMs: number): Promise<LoopbackServer> {
  const directory = mkdtempSync(join(tmpdir(), `wft-${name.replace(/\W+/g, "-")}-`));
  const child = spawn(process.execPath, args(directory), { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, TMPDIR: directory } });
  let log = "";
  child.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const stop = async () => {
    await stopProcess(child, "SIGTERM", 5_000);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const port = await waitForPortLine(child, name, () => log, timeoutMs);
    return { endpoint: `http://127.0.0.1:${port}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Waits for the child's first stdout line, {"port":N}, and resolves N. Fails
 * with `name` and the child's recent output (`log`) if it exits, errs, says
 * something else or stays silent for `timeoutMs`.
 */
export function waitForPortLine(child: ChildProcess, name: string, log: () => string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${timeoutMs} ms:\n${log()}`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    child.once("exit", (code) => fail(new Error(`${name} exited with code ${code}:\n${log()}`)));
    child.once("error", fail);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) {
        clearTimeout(timer);
        try {
          const { port } = JSON.parse(line) as { port: unknown };
          if (typeof port !== "number") throw new Error(`no port in ${line}`);
          resolve(port);
        } catch (err) {
          reject(new Error(`${name} said something unexpected: ${line} (${(err as Error).message})`));
        }
      }
    });
  });
}

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
