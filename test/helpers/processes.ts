// Looking at real processes: is a pid alive, which processes are children of which.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { processRunning } from "../../proto/socket.js";

/** Is `pid` running? A zombie (exited, not yet reaped by its parent) is not. */
export const isAlive = processRunning;

/** The command line of a live process (Linux /proc). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Pids of live processes other than this one (zombies excluded). */
function liveProcesses(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let stat = "";
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    if (!stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) pids.push(pid);
  }
  return pids;
}

/** Pids of live processes whose command line contains `needle` (zombies excluded). */
export function processesMatching(needle: string): number[] {
  return liveProcesses().filter((pid) => commandLine(pid).includes(needle));
}

/** Pids of live processes working in `dir` or below it (every PostgreSQL server process works in its data directory). */
export function processesWorkingIn(dir: string): number[] {
  return liveProcesses().filter((pid) => {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      return cwd === dir || cwd.startsWith(`${dir}/`);
    } catch {
      return false; // gone meanwhile, or not ours to look at
    }
  });
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
