// Durations as users write them in flags: 30s, 5m, 1h30m, 250ms, or plain seconds.
import { ErrorCode, WfctlError } from "./errors.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in `text`; `what` names the flag in the error. */
export function parseDuration(text: string, what: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: "${text}" is not a duration (examples: 30s, 5m, 1h30m, 250ms)`);
  }
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2] as string] as number), 0));
}
