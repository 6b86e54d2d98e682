// The shape of infra.yaml, as a schema. Semantic rules (references, cycles,
// one state module) are checked after it, in validate.ts.
import { z } from "zod";

/** Module names: safe in file names, state keys and URLs. */
export const MODULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const name = z.string().regex(MODULE_NAME, {
  message: "must start with a letter or digit and use only letters, digits, '_', '.', '-' (at most 128)",
});

const configMap = z.record(z.string(), z.unknown());

/** Overrides of one module under one environment; `null` disables the module there. */
export const environmentOverrideSchema = z
  .object({
    name: name.optional(),
    provider: z.string().min(1).optional(),
    config: configMap.optional(),
    depends_on: z.array(z.string().min(1)).optional(),
    protected: z.boolean().optional(),
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
    environments: z.record(z.string().min(1), environmentOverrideSchema.nullable()).optional(),
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

/** The document's top level; each module is checked with moduleSchema on its own. */
export const documentSchema = z
  .object({
    modules: z.array(z.unknown()),
    /** Each output is checked with outputSchema on its own (and its name with OUTPUT_NAME). */
    outputs: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type RawModule = z.infer<typeof moduleSchema>;
export type RawOutput = z.infer<typeof outputSchema>;
export type RawSink = z.infer<typeof githubSecretSinkSchema> | z.infer<typeof githubEnvSinkSchema>;
export type RawEnvironmentOverride = z.infer<typeof environmentOverrideSchema>;

/** Module types wfctl itself understands; every other type is a resource type. */
export const STATE_MODULE = "iac.state";
export const PROVIDER_MODULE = "iac.provider";

/** A resource type: `<provider>.<kind>`, e.g. local.file. */
export const RESOURCE_TYPE = /^[a-z][a-z0-9_-]*\.[a-z0-9_][a-z0-9_.-]*$/;
