// The github_secret sink: an Actions secret, written through the GitHub REST
// API the way `gh secret set` does it. The value is encrypted here, with a
// libsodium sealed box to the repository's (or environment's) public key, so
// only GitHub can read it; plaintext goes nowhere but this process's memory.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import type { OutputSink } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

/** GitHub.com's API; GitHub Enterprise Server's is https://HOST/api/v3. */
export const DEFAULT_API_URL = "https://api.github.com";

/** How long one API request may take. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Where a github_secret sink writes, with the defaults of the environment applied. */
export interface SecretDestination {
  apiUrl: string;
  owner: string;
  repo: string;
  /** A deployment environment; "" for a repository secret. */
  environment: string;
  /** Secret names are stored upper-case. */
  name: string;
  /** The name of the variable holding the token (never the token). */
  tokenEnv: string;
}

/** A repository's (or environment's) secrets public key. */
interface PublicKey {
  keyId: string;
  key: Uint8Array;
}

/** What a sink's errors begin with: which sink, declared where. */
function sinkLabel(output: string, sink: OutputSink): string {
  return `output "${output}", github_secret sink ${sink.name}${sink.location ? ` (${sink.location})` : ""}`;
}

/** The sink's destination: repository from $GITHUB_REPOSITORY and API from $GITHUB_API_URL when the config leaves them out. */
export function secretDestination(output: string, sink: OutputSink, env: NodeJS.ProcessEnv): SecretDestination {
  const repository = sink.repository || env["GITHUB_REPOSITORY"] || "";
  const [owner, repo, ...rest] = repository.split("/");
  if (!owner || !repo || rest.length > 0) {
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `${sinkLabel(output, sink)}: no repository: set repository: owner/repo on the sink, or run where $GITHUB_REPOSITORY is set (GitHub Actions sets it)` +
        (repository ? ` (got "${repository}")` : ""),
    );
  }
  const apiUrl = (sink.apiUrl || env["GITHUB_API_URL"] || DEFAULT_API_URL).replace(/\/+$/, "");
  return { apiUrl, owner, repo, environment: sink.environment, name: sink.name.toUpperCase(), tokenEnv: sink.tokenEnv || "GITHUB_TOKEN" };
}

/** Where the destination is, for messages: "GitHub secret NAME in owner/repo (environment E)". */
export function describeSecret(d: SecretDestination): string {
  const host = d.apiUrl === DEFAULT_API_URL ? "" : ` at ${d.apiUrl}`;
  return `GitHub secret ${d.name} in ${d.owner}/${d.repo}${d.environment ? ` (environment ${d.environment})` : ""}${host}`;
}

function secretsPath(d: SecretDestination): string {
  const repo = `${d.apiUrl}/repos/${encodeURIComponent(d.owner)}/${encodeURIComponent(d.repo)}`;
  return d.environment ? `${repo}/environments/${encodeURIComponent(d.environment)}/secrets` : `${repo}/actions/secrets`;
}

/** The message of a GitHub API error response, if it has one (never the request). */
async function apiMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { message?: unknown };
    return typeof body.message === "string" ? `: ${body.message}` : "";
  } catch {
    return "";
  }
}

/** Writes GitHub secrets; public keys are fetched once per repository or environment. */
export class GitHubSecretWriter {
  private readonly keys = new Map<string, Promise<PublicKey>>();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly signal: AbortSignal,
  ) {}

  /** Encrypts `value` to the destination's public key and stores it. */
  async write(output: string, sink: OutputSink, destination: SecretDestination, value: string): Promise<void> {
    const token = this.env[destination.tokenEnv];
    if (!token) {
      throw new WfctlError(
        ErrorCode.FAILED_PRECONDITION,
        `${sinkLabel(output, sink)}: $${destination.tokenEnv} is not set: it must hold a GitHub token that may write ${destination.environment ? "environment" : "repository"} secrets of ${destination.owner}/${destination.repo}` +
          (sink.tokenEnv ? "" : " (name another variable with token_env)"),
      );
    }
    const what = `${sinkLabel(output, sink)}: ${describeSecret(destination)}`;
    const keyUrl = `${secretsPath(destination)}/public-key`;
    let pending = this.keys.get(keyUrl);
    if (!pending) {
      pending = this.publicKey(keyUrl, token, what);
      this.keys.set(keyUrl, pending);
      // A failed fetch is not kept: the next sink tries again.
      pending.catch(() => this.keys.delete(keyUrl));
    }
    const key = await pending;
    const { default: sodium } = await import("libsodium-wrappers");
    await sodium.ready;
    const encrypted = sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(value), key.key), sodium.base64_variants.ORIGINAL);
    const response = await this.request(`${secretsPath(destination)}/${encodeURIComponent(destination.name)}`, token, what, {
      method: "PUT",
      body: JSON.stringify({ encrypted_value: encrypted, key_id: key.keyId }),
    });
    // 201 created, 204 updated.
    if (response.status !== 201 && response.status !== 204) await this.fail(response, what, "storing the secret");
  }

  private async publicKey(url: string, token: string, what: string): Promise<PublicKey> {
    const response = await this.request(url, token, what, { method: "GET" });
    if (response.status !== 200) await this.fail(response, what, "fetching the secrets public key");
    const body = (await response.json().catch(() => undefined)) as { key_id?: unknown; key?: unknown } | undefined;
    const { default: sodium } = await import("libsodium-wrappers");
    await sodium.ready;
    let key: Uint8Array | undefined;
    try {
      if (typeof body?.key === "string") key = sodium.from_base64(body.key, sodium.base64_variants.ORIGINAL);
    } catch {
      key = undefined;
    }
    if (typeof body?.key_id !== "string" || key?.length !== sodium.crypto_box_PUBLICKEYBYTES) {
      throw new WfctlError(ErrorCode.SINK_FAILED, `${what}: ${url} did not return a public key ({"key_id": ..., "key": 32 bytes in base64})`);
    }
    return { keyId: body.key_id, key };
  }

  private async request(url: string, token: string, what: string, init: { method: string; body?: string }): Promise<Response> {
    try {
      return await fetch(url, {
        ...init,
        headers: {
          Accept: "application/vnd.github+json",
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          "User-Agent": `wfctl/${WFCTL_VERSION}`,
          "X-GitHub-Api-Version": "2022-11-28",
        },
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        redirect: "error",
      });
    } catch (err) {
      if (this.signal.aborted) throw new WfctlError(ErrorCode.CANCELLED, `${what}: interrupted`);
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === "TimeoutError" ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new WfctlError(ErrorCode.SINK_FAILED, `${what}: ${init.method} ${url} failed: ${why}`);
    }
  }

  private async fail(response: Response, what: string, doing: string): Promise<never> {
    const message = await apiMessage(response);
    const status = `HTTP ${response.status}${message}`;
    switch (response.status) {
      case 401:
        throw new WfctlError(ErrorCode.PERMISSION_DENIED, `${what}: ${doing}: ${status} (the token is invalid or expired)`);
      case 403:
        throw new WfctlError(ErrorCode.PERMISSION_DENIED, `${what}: ${doing}: ${status} (the token may not manage secrets: it needs "Secrets: write" or the repo scope)`);
      case 404:
        throw new WfctlError(ErrorCode.NOT_FOUND, `${what}: ${doing}: ${status} (no such repository or environment, or the token cannot see it)`);
      default:
        throw new WfctlError(ErrorCode.SINK_FAILED, `${what}: ${doing}: ${status}`);
    }
  }
}
