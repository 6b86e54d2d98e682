// Running wfctl where a person would: on a pseudo-terminal (util-linux
// `script`, part of Debian's essential set), typing an answer once a prompt
// is on screen; or in the background, to act on it while it runs.
import { spawn } from "node:child_process";
import type { CliResult } from "./cli.js";
import { ROOT, WFCTL } from "./paths.js";

/**
 * Runs wfctl on a pseudo-terminal and types `answer` when `prompt` appears; stdout and stderr arrive together as `stdout`.
 * `size` gives the terminal columns and rows (script's own pseudo-terminal has none: a live display then draws nothing).
 */
export function runOnTerminal(args: readonly string[], env: Record<string, string>, prompt: string, answer: string, size?: { columns: number; rows: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const quoted = [process.execPath, WFCTL, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const command = size ? `stty cols ${size.columns} rows ${size.rows}; exec ${quoted}` : quoted;
    const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let typed = false;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (!typed && stdout.includes(prompt)) {
        typed = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`wfctl on a terminal did not finish within 45 s; output so far:\n${stdout}`));
    }, 45_000);
    child.once("error", (err) => reject(new Error(`cannot run util-linux script(1) to get a terminal: ${err.message}`)));
    child.once("close", (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? -1, stdout, stderr: "" });
    });
  });
}

/** A wfctl command running in the background: its output so far, its exit, and signals to send it. */
export interface Background {
  output: { stdout: string; stderr: string };
  exit: Promise<number | null>;
  signal(name: NodeJS.Signals): void;
}

/** Starts `wfctl ARGS` in the background with `env` added (WFCTL_SOCKET and the like). */
export function runInBackground(args: readonly string[], env: Record<string, string>): Background {
  const child = spawn(process.execPath, [WFCTL, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (c: Buffer) => (output.stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output.stderr += c.toString()));
  return { output, exit: new Promise((resolve) => child.once("close", resolve)), signal: (name) => child.kill(name) };
}
