// The shape of infra.yaml, as a schema. Semantic rules (references, cycles,
// one state module) are checked after it, in validate.ts.
import { z } from "zod";
import { DURATION_EXAMPLES, durationMs } from "../../proto/duration.js";
import { NAME_PATTERN, NAME_RULE } from "../../proto/names.js";

/** Module names: safe in file names, state keys and URLs. */
export const MODULE_NAME = NAME_PATTERN;

const name = z.string().regex(MODULE_NAME, { message: NAME_RULE });

/**
 * Keys of `environments:`: an environment names a state namespace, so it
 * follows the same rule as module names (never a path such as "../x").
 */
const environmentName = z.string().regex(NAME_PATTERN, { message: `is not a valid environment name: it ${NAME_RULE}` });

const configMap = z.record(z.string(), z.unknown());

/** Overrides of one module under one environment; `null` disables the module there. */
export const environmentOverrideSchema = z
  .object({
    name: name.optional(),
    provider: z.string().min(1).optional(),
    config: configMap.optional(),
    depends_on: z.array(z.string().min(1)).optional(),
    protected: z.boolean().optional(),
    create_before_destroy: z.boolean().optional(),
  })
  .strict();

export const moduleSchema = z
  .object({
    name,
    type: z.string().min(1, { message: "must not be empty" }),
    provider: z.string().min(1).optional(),
    config: configMap.optional(),
    depends_on: z.array(z.string().min(1)).optional(),
    protected: z.boolean().optional(),
    create_before_destroy: z.boolean().optional(),
    environments: z.record(environmentName, environmentOverrideSchema.nullable()).optional(),
  })
  .strict();

/** Output names: usable as environment variable and secret names. */
export const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

/** GitHub secret names: letters, digits and '_', not starting with a digit or GITHUB_. */
export const SECRET_NAME = /^(?!GITHUB_)[A-Za-z_][A-Za-z0-9_]{0,254}$/i;

/** Environment variable names. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

const secretName = z.string().regex(SECRET_NAME, {
  message: "must use only letters, digits and '_', not start with a digit, and not start with GITHUB_",
});
const envName = z.string().regex(ENV_NAME, { message: "must be an environment variable name (letters, digits, '_'; not starting with a digit)" });

/** github_secret: an Actions secret of a repository or of one of its environments. */
export const githubSecretSinkSchema = z
  .object({
    type: z.literal("github_secret"),
    /** The secret's name; default: the output's name. */
    name: secretName.optional(),
    /** owner/repo; default: $GITHUB_REPOSITORY when the sink runs. */
    repository: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { message: "must be owner/repo, e.g. octo-org/app" })
      .optional(),
    /** A deployment environment's secret instead of the repository's. */
    environment: z.string().min(1).max(255).optional(),
    /** The environment variable holding the API token; default GITHUB_TOKEN. */
    token_env: envName.optional(),
    /** REST API base URL (GitHub Enterprise Server: https://HOST/api/v3); default: $GITHUB_API_URL, else https://api.github.com. */
    api_url: z.url({ protocol: /^https?$/, message: "must be an http(s) URL, e.g. https://github.example.com/api/v3" }).optional(),
    on_apply: z.boolean().optional(),
  })
  .strict();

/** github_env: a variable for the job's later steps, appended to $GITHUB_ENV. */
export const githubEnvSinkSchema = z
  .object({
    type: z.literal("github_env"),
    /** The variable's name; default: the output's name. */
    name: envName.optional(),
    on_apply: z.boolean().optional(),
  })
  .strict();

export const SINK_TYPES = ["github_secret", "github_env"] as const;

/** One entry of `outputs:`: a value of an applied resource, exposed by name. */
export const outputSchema = z
  .object({
    /** `module.field`: the module by the name written at its top; a field of its outputs or applied config. */
    source: z.string().min(3, { message: "must be module.field, e.g. db.connection_uri" }),
    /** Masked unless asked for; a source field the provider marks sensitive is masked anyway. */
    sensitive: z.boolean().optional(),
    description: z.string().optional(),
    /** Where `wfctl infra outputs --sync` writes the value; each sink is checked with its type's schema on its own. */
    sinks: z.array(z.unknown()).optional(),
  })
  .strict();

/** A duration: "500ms", "5s", "2m", "1h30m", or a number of seconds. */
const duration = z.custom<string | number>((v) => (typeof v === "string" || typeof v === "number") && durationMs(v) !== undefined, {
  message: `must be a duration (${DURATION_EXAMPLES}) or a number of seconds`,
});
const positiveDuration = z.custom<string | number>((v) => (typeof v === "string" || typeof v === "number") && (durationMs(v) ?? 0) > 0, {
  message: `must be a duration greater than zero (${DURATION_EXAMPLES}) or a number of seconds`,
});
const attempts = z.number({ message: "must be a whole number, 1 or more" }).int({ message: "must be a whole number, 1 or more" }).min(1, { message: "must be a whole number, 1 or more" });

/** An inclusive range of HTTP status codes. */
export interface StatusRange {
  min: number;
  max: number;
}

/** The status codes a spec accepts (200, "2xx", "200-299", or a list of them), or undefined when it is not one. */
export function statusRanges(spec: unknown): StatusRange[] | undefined {
  const one = (item: unknown): StatusRange | undefined => {
    const code = (n: number) => Number.isInteger(n) && n >= 100 && n <= 599;
    if (typeof item === "number") return code(item) ? { min: item, max: item } : undefined;
    if (typeof item !== "string") return undefined;
    const text = item.trim();
    const klass = /^([1-5])xx$/i.exec(text);
    if (klass) return { min: Number(klass[1]) * 100, max: Number(klass[1]) * 100 + 99 };
    const range = /^(\d{3})\s*-\s*(\d{3})$/.exec(text);
    if (range) {
      const [min, max] = [Number(range[1]), Number(range[2])];
      return code(min) && code(max) && min <= max ? { min, max } : undefined;
    }
    return /^\d{3}$/.test(text) && code(Number(text)) ? { min: Number(text), max: Number(text) } : undefined;
  };
  const items = Array.isArray(spec) ? spec : [spec];
  if (items.length === 0) return undefined;
  const ranges = items.map(one);
  return ranges.every((r) => r !== undefined) ? (ranges as StatusRange[]) : undefined;
}

/** An HTTP header name (an RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Fields of an `http:` check. All optional here: an environment may supply the URL; verify.ts checks the resolved target. */
export const httpCheckSchema = z
  .object({
    /** The URL to request: http:// or https://. */
    url: z.string().refine(
      (v) => {
        try {
          return ["http:", "https:"].includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: "must be an http:// or https:// URL" },
    ),
    method: z.enum(["GET", "HEAD"], { message: 'must be "GET" or "HEAD"' }),
    /** Accepted status codes; default 200-399. */
    status: z.custom<number | string | (number | string)[]>((v) => statusRanges(v) !== undefined, {
      message: 'must be an HTTP status code (200), a class ("2xx"), a range ("200-299"), or a list of them',
    }),
    /** A substring the body must contain. */
    body: z.string(),
    /** A regular expression (JavaScript syntax) the body must match. */
    body_match: z.string().superRefine((v, ctx) => {
      try {
        new RegExp(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `must be a regular expression: ${(err as Error).message}` });
      }
    }),
    headers: z
      .record(z.string(), z.string({ message: "header values must be strings" }))
      .superRefine((headers, ctx) => {
        for (const [key, value] of Object.entries(headers)) {
          if (!HEADER_NAME.test(key)) ctx.addIssue({ code: "custom", path: [key], message: `"${key}" is not a valid header name` });
          else if (/[\r\n\0]/.test(value)) ctx.addIssue({ code: "custom", path: [key], message: "a header value must be one line" });
        }
      }),
    /** Skip TLS certificate verification (self-signed certificates). */
    insecure_tls: z.boolean(),
  })
  .partial()
  .strict();

/** Fields of a `tcp:` check: it passes when a connection opens. */
export const tcpCheckSchema = z
  .object({
    host: z.string().min(1, { message: "must not be empty" }),
    port: z.number({ message: "must be a port number, 1 to 65535" }).int({ message: "must be a port number, 1 to 65535" }).min(1, { message: "must be a port number, 1 to 65535" }).max(65535, { message: "must be a port number, 1 to 65535" }),
  })
  .partial()
  .strict();

/** Settings a target may override, and an environment may override on a target. */
const targetSettings = {
  http: httpCheckSchema.optional(),
  tcp: tcpCheckSchema.optional(),
  interval: duration.optional(),
  attempts: attempts.optional(),
  attempt_timeout: positiveDuration.optional(),
};

/** One target's overrides under one environment; `null` disables the target there. */
export const verifyTargetOverrideSchema = z.object(targetSettings).strict();

/** One entry of `verify.targets`: a health check and how to retry it. */
export const verifyTargetSchema = z
  .object({
    name,
    ...targetSettings,
    environments: z.record(environmentName, verifyTargetOverrideSchema.nullable()).optional(),
  })
  .strict();

/** The `verify:` section: defaults for every target, then the targets (each checked with verifyTargetSchema on its own). */
export const verifySchema = z
  .object({
    /** The deadline of the whole verify, all targets together. */
    timeout: positiveDuration.optional(),
    interval: duration.optional(),
    attempts: attempts.optional(),
    attempt_timeout: positiveDuration.optional(),
    targets: z.array(z.unknown(), { message: "must be a list of targets" }),
  })
  .strict();

/** Input variable names: a letter or '_', then letters, digits and '_' (as `${var.NAME}` and WFCTL_VAR_NAME write them). */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A regular expression (JavaScript syntax), checked to compile. */
const regex = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v, "u");
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `must be a regular expression: ${(err as Error).message}` });
  }
});

/** One rule of a variable's `validation:`: at least one check, and the message shown when the value fails it. */
export const variableRuleSchema = z
  .object({
    pattern: regex.optional(),
    allowed: z.array(z.unknown()).min(1, { message: "must list at least one value" }).optional(),
    min: z.number({ message: "must be a number" }).optional(),
    max: z.number({ message: "must be a number" }).optional(),
    message: z.string({ message: "is required: what to tell whoever sets a value that fails the rule" }).min(1, { message: "must not be empty" }),
  })
  .strict()
  .refine((rule) => rule.pattern !== undefined || rule.allowed !== undefined || rule.min !== undefined || rule.max !== undefined, {
    message: "needs a check: pattern, allowed, min or max",
  });

/** One entry of `variables:` (checked on its own; null or {} declares a required string). */
export const variableSchema = z
  .object({
    type: z.enum(["string", "number", "bool", "list", "map"], { message: 'must be one of "string", "number", "bool", "list", "map"' }).optional(),
    default: z.unknown().optional(),
    description: z.string().optional(),
    sensitive: z.boolean().optional(),
    validation: z.array(variableRuleSchema, { message: "must be a list of rules" }).optional(),
  })
  .strict();

/** The document's top level; each module is checked with moduleSchema on its own. */
export const documentSchema = z
  .object({
    modules: z.array(z.unknown()),
    /** Input variables, each checked with variableSchema on its own (and its name with VARIABLE_NAME). */
    variables: z.record(z.string(), z.unknown(), { message: "must be a mapping of variable names to declarations" }).optional(),
    /** Each output is checked with outputSchema on its own (and its name with OUTPUT_NAME). */
    outputs: z.record(z.string(), z.unknown()).optional(),
    /** Health checks for `wfctl deploy verify`; checked with verifySchema. */
    verify: z.unknown().optional(),
    /** State records renamed declaratively; each entry is checked with movedEntrySchema on its own (moved.ts). */
    moved: z.array(z.unknown(), { message: "must be a list of { from: OLD, to: NEW } entries" }).optional(),
  })
  .strict();

/** One entry of `moved:`: the record named `from` is the resource module `to` now (Terraform's `moved` block). */
export const movedEntrySchema = z.object({ from: name, to: name }).strict();

export type RawModule = z.infer<typeof moduleSchema>;
export type RawOutput = z.infer<typeof outputSchema>;
export type RawSink = z.infer<typeof githubSecretSinkSchema> | z.infer<typeof githubEnvSinkSchema>;
export type RawEnvironmentOverride = z.infer<typeof environmentOverrideSchema>;
export type RawVerify = z.infer<typeof verifySchema>;
export type RawVariable = z.infer<typeof variableSchema>;
export type RawVerifyTarget = z.infer<typeof verifyTargetSchema>;
export type RawVerifyTargetOverride = z.infer<typeof verifyTargetOverrideSchema>;

/** Module types wfctl itself understands; every other type is a resource type. */
export const STATE_MODULE = "iac.state";
export const PROVIDER_MODULE = "iac.provider";

/** A resource type: `<provider>.<kind>`, e.g. local.file. */
export const RESOURCE_TYPE = /^[a-z][a-z0-9_-]*\.[a-z0-9_][a-z0-9_.-]*$/;
