// Asking for approval on a terminal; refusing where there is none.
import { createInterface } from "node:readline/promises";
import { ErrorCode, WfctlError } from "../proto/errors.js";

/** True when a person can answer: stdin and stderr are terminals. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks on the terminal; only the exact answer "yes" approves. */
export async function confirm(question: string, signal: AbortSignal): Promise<boolean> {
  return (await ask(`${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `, signal)) === "yes";
}

/** The line typed after `prompt` (on stderr), without its line ending. */
export async function ask(prompt: string, signal: AbortSignal): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(prompt, { signal });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw new WfctlError(ErrorCode.CANCELLED, "cancelled at the approval prompt: nothing was changed");
    throw err;
  } finally {
    rl.close();
  }
}

/** The error for a destructive command run without approval and without a terminal. */
export function approvalRequired(command: string, flag: string): WfctlError {
  return new WfctlError(
    ErrorCode.APPROVAL_REQUIRED,
    `refusing to ${command} without ${flag}: there is no terminal to ask for approval. ` +
      `Review the changes with \`wfctl infra plan\`, then run again with ${flag}.`,
  );
}
