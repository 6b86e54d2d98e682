// Reading a state backend plugin's settings (the iac.state module's config,
// minus `backend`): every problem is CONFIG_INVALID naming `config.<field>`,
// literal secrets are refused in favour of a *_env field naming the
// environment variable, and that variable is read from the plugin's own
// environment, to which the daemon passes every variable a *_env field names.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class BackendConfig {
  /**
   * @param where names the backend in every message, e.g. "gcs state backend".
   * Checks the keys at once: a literal secret (a key of `literalSecrets`) is
   * refused naming the *_env field to use, any key not in `known` is refused
   * listing the known ones.
   */
  constructor(
    readonly where: string,
    private readonly config: JsonObject,
    known: readonly string[],
    literalSecrets: Readonly<Record<string, string>>,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    for (const key of Object.keys(config)) {
      const instead = literalSecrets[key];
      if (instead !== undefined) {
        throw this.invalid(key, `is refused: secrets are never written in the configuration; put the value in an environment variable and name it with ${instead}`);
      }
      if (!known.includes(key)) throw this.error(key, `unknown field "config.${key}" (known: ${known.join(", ")})`);
    }
  }

  private error(field: string, text: string): WfctlError {
    return new WfctlError(ErrorCode.CONFIG_INVALID, `${this.where}: ${text}`, { details: [{ message: text, field: `config.${field}` }] });
  }

  /** CONFIG_INVALID: `<where>: field "config.<field>" <message>`. */
  invalid(field: string, message: string): WfctlError {
    return this.error(field, `field "config.${field}" ${message}`);
  }

  /** Whether the key is present (and not null). */
  has(key: string): boolean {
    return this.config[key] !== undefined && this.config[key] !== null;
  }

  /** A non-empty string, or undefined when absent. */
  string(key: string): string | undefined {
    const value = this.config[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || value === "") throw this.invalid(key, "must be a non-empty string");
    return value;
  }

  /** A key prefix: absent gives `fallback`, "" means none; otherwise it must be a string. */
  prefix(key: string, fallback: string): string {
    const value = this.config[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string") throw this.invalid(key, "must be a string");
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.config[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "boolean") throw this.invalid(key, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  /** An http(s) URL that carries no credentials and no query (said without echoing it: it may hold the very secret). */
  url(key: string, example: string): URL | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw this.invalid(key, `must be a URL such as ${example}, got "${value}"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw this.invalid(key, `must be an http:// or https:// URL, got "${url.protocol}"`);
    if (url.username !== "" || url.password !== "" || url.search !== "") {
      throw this.invalid(key, "must not carry credentials or a query string: name the environment variable holding a secret with the *_env fields");
    }
    return url;
  }

  /** The value of the environment variable that `config.<key>` names; undefined when the key is absent. */
  secretFromEnv(key: string): { name: string; value: string } | undefined {
    const name = this.string(key);
    if (name === undefined) return undefined;
    return { name, value: this.secretNamed(key, name) };
  }

  /** The value of the environment variable `name`, which `config.<key>` holds (already read with `string`). */
  secretNamed(key: string, name: string): string {
    if (!ENV_NAME.test(name)) throw this.invalid(key, `must name an environment variable, got "${name}"`);
    const value = this.env[name];
    if (value === undefined || value === "") {
      throw this.invalid(key, `names the environment variable ${name}, which is not set in the plugin's environment (wfctl hands it on from the environment of the wfctl command whose request started the plugin, or from the plugin's env in wfctl.yaml)`);
    }
    return value;
  }
}
