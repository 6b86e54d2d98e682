// The `verify:` section: health checks for `wfctl deploy verify`. Checked
// with the rest of the file (every problem located by file, line and field,
// all reported at once) and resolved for the environment the way modules
// are: a target's `environments.NAME` entry merges into it, or (null)
// disables it there.
import type { z } from "zod";
import type { ErrorDetail } from "../../proto/errors.js";
import { durationMs } from "../../proto/duration.js";
import type { JsonObject } from "../../proto/json.js";
import { mergeConfig } from "./environments.js";
import { type HealthCheck, VERIFY_DEFAULTS, type VerifyConfig, type VerifyTarget } from "./model.js";
import {
  MODULE_NAME,
  type RawVerify,
  type RawVerifyTarget,
  type RawVerifyTargetOverride,
  statusRanges,
  verifySchema,
  verifyTargetSchema,
} from "./schema.js";
import { type SourceFile, type YamlPath, invalidKeyMessage } from "./source.js";

/** The `verify:` section after its shape was checked: settings (when valid) and each valid target. */
export interface CheckedVerify {
  settings: Omit<RawVerify, "targets"> | undefined;
  /** One entry per target as written; undefined for a target with problems (already reported). */
  targets: (RawVerifyTarget | undefined)[];
}

/** What statuses a check accepts when it names none: success and redirects, which are not followed. */
const DEFAULT_STATUS = "200-399";

/** Value at `path` inside `value`, or undefined. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const key of path) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

/** How a target is named in a field: its name, or its position when it has no valid one. */
function targetLabel(target: unknown, index: number): string {
  const name = valueAt(target, ["name"]);
  return typeof name === "string" && MODULE_NAME.test(name) ? name : `#${index + 1}`;
}

/** Details for zod issues of the value at `prefix` (a path in the file), with fields named from `fieldPrefix`. */
function issueDetails(source: SourceFile, value: unknown, issues: readonly z.core.$ZodIssue[], prefix: YamlPath, fieldPrefix: string): ErrorDetail[] {
  return issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const field = [fieldPrefix, ...path].join(".");
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
      if (issue.keys.includes("retries")) message += " (use attempts: how many tries in all, the first included)";
    } else if (issue.code === "invalid_type" && path.length > 0 && valueAt(value, path) === undefined) {
      message = "is required";
    } else if (issue.code === "invalid_type" && path.length === 0) {
      message = fieldPrefix === "verify" ? "must be a map with a targets list" : "must be a map";
    } else if (issue.code === "invalid_key") {
      return source.keyDetail([...prefix, ...path], invalidKeyMessage(issue, path), undefined, field);
    }
    return source.detail([...prefix, ...path], message, undefined, field);
  });
}

/** Checks the shape of `verify:` (`value`, as parsed), adding each problem to `problems`. */
export function checkVerifySection(source: SourceFile, value: unknown, problems: ErrorDetail[]): CheckedVerify {
  const top = verifySchema.safeParse(value);
  if (!top.success) problems.push(...issueDetails(source, value, top.error.issues, ["verify"], "verify"));
  const rawTargets = valueAt(value, ["targets"]);
  const targets = (Array.isArray(rawTargets) ? rawTargets : []).map((target: unknown, index) => {
    const parsed = verifyTargetSchema.safeParse(target);
    if (parsed.success) return parsed.data;
    const label = targetLabel(target, index);
    problems.push(...issueDetails(source, target, parsed.error.issues, ["verify", "targets", index], `verify.targets.${label}`));
    return undefined;
  });
  const first = new Map<string, number>();
  targets.forEach((target, index) => {
    if (!target) return;
    const seen = first.get(target.name);
    if (seen === undefined) first.set(target.name, index);
    else {
      problems.push(source.detail(["verify", "targets", index, "name"], `duplicate target name (also target #${seen + 1})`, undefined, `verify.targets.${target.name}.name`));
    }
  });
  let settings: CheckedVerify["settings"];
  if (top.success) {
    const { targets: _targets, ...rest } = top.data;
    settings = rest;
  }
  return { settings, targets };
}

/** Environment names the targets mention under `environments:`. */
export function verifyEnvironments(checked: CheckedVerify | undefined): string[] {
  return (checked?.targets ?? []).flatMap((t) => Object.keys(t?.environments ?? {}));
}

const ms = (value: string | number | undefined): number | undefined => (value === undefined ? undefined : durationMs(value));

/**
 * The section for environment `env` ("" for none): each target merged with
 * its environment's entry, disabled where that entry is null, defaults
 * applied. A target left without exactly one complete check is a problem.
 */
export function resolveVerify(source: SourceFile, checked: CheckedVerify, env: string, problems: ErrorDetail[]): VerifyConfig {
  const settings = checked.settings ?? {};
  const targets: VerifyTarget[] = [];
  const disabled: string[] = [];
  checked.targets.forEach((target, index) => {
    if (!target) return;
    const { name, environments, ...base } = target;
    const hasOverride = env !== "" && environments !== undefined && env in environments;
    const override: RawVerifyTargetOverride | null | undefined = hasOverride ? environments[env] : undefined;
    if (override === null) {
      disabled.push(name);
      return;
    }
    const merged = (override ? mergeConfig(base as JsonObject, override as JsonObject) : base) as RawVerifyTargetOverride;
    // A problem about `key` is located where its value comes from: the environment's entry, or the target itself.
    const problem = (key: readonly string[], message: string) => {
      const fromOverride = key.length > 0 && override !== undefined && valueAt(override, key) !== undefined;
      const path: YamlPath = fromOverride ? ["verify", "targets", index, "environments", env, ...key] : ["verify", "targets", index, ...key];
      const field = [`verify.targets.${name}`, ...(fromOverride ? ["environments", env] : []), ...key].join(".");
      problems.push(source.detail(path, message, undefined, field));
    };
    const check = healthCheck(merged, problem);
    if (!check) return;
    targets.push({
      name,
      index,
      check,
      intervalMs: ms(merged.interval) ?? ms(settings.interval) ?? VERIFY_DEFAULTS.intervalMs,
      attempts: merged.attempts ?? settings.attempts,
      attemptTimeoutMs: ms(merged.attempt_timeout) ?? ms(settings.attempt_timeout) ?? VERIFY_DEFAULTS.attemptTimeoutMs,
    });
  });
  return { timeoutMs: ms(settings.timeout) ?? VERIFY_DEFAULTS.timeoutMs, targets, disabled };
}

/** The one check a target makes, or undefined after reporting why it has none. */
function healthCheck(target: RawVerifyTargetOverride, problem: (key: readonly string[], message: string) => void): HealthCheck | undefined {
  const { http, tcp } = target;
  if (http && tcp) {
    problem(["tcp"], "a target makes one check: set http or tcp, not both");
    return undefined;
  }
  if (http) {
    let complete = true;
    if (http.url === undefined) {
      problem(["http", "url"], "is required");
      complete = false;
    }
    if (http.method === "HEAD" && (http.body !== undefined || http.body_match !== undefined)) {
      problem(["http", "method"], "a HEAD request gets no body to check: use GET, or remove body and body_match");
      complete = false;
    }
    if (!complete || http.url === undefined) return undefined;
    return {
      kind: "http",
      url: http.url,
      method: http.method ?? "GET",
      status: statusRanges(http.status ?? DEFAULT_STATUS) ?? [],
      body: http.body,
      bodyMatch: http.body_match,
      headers: http.headers ?? {},
      insecureTls: http.insecure_tls ?? false,
    };
  }
  if (tcp) {
    if (tcp.host === undefined) problem(["tcp", "host"], "is required");
    if (tcp.port === undefined) problem(["tcp", "port"], "is required");
    if (tcp.host === undefined || tcp.port === undefined) return undefined;
    return { kind: "tcp", host: tcp.host, port: tcp.port };
  }
  problem([], 'needs a check: http: { url: … } or tcp: { host: …, port: … }');
  return undefined;
}
