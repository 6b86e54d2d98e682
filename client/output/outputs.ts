// Outputs as people, scripts and GitHub Actions read them. Sensitive values
// are masked unless asked for; under GitHub Actions every sensitive value is
// registered with `::add-mask::` before anything is printed, so the runner
// hides it in every later line of the job's log.
import type { OutputValue } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

/** How a masked value prints (Terraform's spelling). */
export const MASKED = "<sensitive>";

/** True when running as a GitHub Actions step. */
export function underGitHubActions(env: NodeJS.ProcessEnv = process.env): boolean {
  return env["GITHUB_ACTIONS"] === "true";
}

/** Workflow-command data escaping (what @actions/core does): %, CR and LF. */
export function escapeData(value: string): string {
  return value.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** The text an output prints as: strings bare, anything else as JSON. */
export function plainValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function strings(value: unknown, into: Set<string>): void {
  if (typeof value === "string") into.add(value);
  else if (typeof value === "number" || typeof value === "boolean") into.add(String(value));
  else if (Array.isArray(value)) for (const v of value) strings(v, into);
  else if (value !== null && typeof value === "object") for (const v of Object.values(value)) strings(v, into);
}

/**
 * `::add-mask::` lines for a value: its printed form, each string in it, and
 * each line of a multi-line one (the runner matches masks line by line).
 */
export function addMaskCommands(value: unknown): string[] {
  const secrets = new Set<string>([plainValue(value)]);
  // The JSON form too, where escaping makes it differ from the value inside quotes.
  const json = JSON.stringify(value);
  if (!(typeof value === "string" && json === `"${value}"`)) secrets.add(json);
  strings(value, secrets);
  for (const s of [...secrets]) for (const line of s.split(/\r?\n/)) secrets.add(line);
  return [...secrets].filter((s) => s.trim() !== "").map((s) => `::add-mask::${escapeData(s)}\n`);
}

/** The value of an output as JSON, or undefined when it was not sent (sensitive, not revealed). */
export function valueOf(output: OutputValue): unknown {
  return output.valueJson ? (JSON.parse(output.valueJson) as unknown) : undefined;
}

/** `name = value` lines, Terraform-style: strings quoted, masked values as <sensitive>. */
export function renderOutputs(outputs: readonly OutputValue[], show: boolean, where: string): string {
  if (outputs.length === 0) return `No outputs: nothing applied in ${where} has any.\n`;
  const width = Math.max(...outputs.map((o) => o.name.length));
  return outputs
    .map((o) => {
      const value = valueOf(o);
      const text = o.sensitive && !show ? MASKED : value === undefined ? MASKED : JSON.stringify(value);
      return `${o.name.padEnd(width)} = ${text}\n`;
    })
    .join("");
}

/** `{"name":{"value":…,"sensitive":…,"source":…}}`; a masked value is left out and flagged `masked`. */
export function outputsJson(outputs: readonly OutputValue[], show: boolean): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const o of outputs) {
    const value = valueOf(o);
    const masked = o.sensitive && (!show || value === undefined);
    result[o.name] = {
      sensitive: o.sensitive,
      source: o.source,
      ...(o.description ? { description: o.description } : {}),
      ...(masked ? { masked: true } : { value }),
    };
  }
  return result;
}
