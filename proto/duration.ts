// Durations as users write them in flags and in infra.yaml: 30s, 5m, 1h30m,
// 250ms, or plain seconds (a YAML number, or digits in a flag).
import { ErrorCode, WfctlError } from "./errors.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** What every duration error shows as examples. */
export const DURATION_EXAMPLES = "examples: 30s, 5m, 1h30m, 250ms";

/** Milliseconds in `value` (text such as "1h30m", or a number of seconds), or undefined when it is not a duration. */
export function durationMs(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return undefined;
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2] as string] as number), 0));
}

/** Milliseconds in `text`; `what` names the flag in the error. */
export function parseDuration(text: string, what: string): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: "${text}" is not a duration (${DURATION_EXAMPLES})`);
  return ms;
}

/** A duration as people read it: 250ms, 1.5s, 2m, 1h30m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}` || "0s";
}
