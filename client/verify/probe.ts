// One attempt of one health check, from this process: an HTTP request whose
// answer must have an accepted status (and body), or a TCP connection that
// must open. Each attempt has its own time limit, covering connect, headers
// and body, so a server that accepts and never answers cannot hang it. What
// went wrong is said in a few words (`HTTP 503`, `connection refused`,
// `timed out after 1s`), never with the URL's credentials.
import * as http from "node:http";
import * as net from "node:net";
import { formatDuration } from "../../proto/duration.js";
import { URL_REDACTED, redactUrl } from "../../proto/redact.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import type { HealthCheck, HttpCheck, StatusRange, TcpCheck } from "../config.js";

/** How one attempt went. */
export interface AttemptResult {
  ok: boolean;
  /** What happened: `HTTP 200`, `connected`, or why it failed. */
  detail: string;
  /** The HTTP status, when a response came. */
  status?: number;
  /** True when the caller's signal (Ctrl-C) stopped the attempt: its detail says nothing about the target. */
  stopped?: boolean;
  /** True when the attempt ran out of its time limit. */
  timedOut?: boolean;
}

/** Makes one attempt of a check; `timeoutMs` limits it, `signal` stops it early. */
export type Probe = (check: HealthCheck, timeoutMs: number, signal: AbortSignal) => Promise<AttemptResult>;

/** How much of a body is read for body checks; the rest is ignored. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** The reason an attempt's own timer aborts it with. */
const ATTEMPT_TIMEOUT = Symbol("attempt timeout");

/** The one probe for every kind of check. */
export const probe: Probe = async (check, timeoutMs, signal) => {
  const attempt = new AbortController();
  const timer = setTimeout(() => attempt.abort(ATTEMPT_TIMEOUT), timeoutMs);
  const stop = () => attempt.abort(signal.reason);
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  try {
    const outcome = await (check.kind === "http" ? httpAttempt(check, attempt.signal) : tcpAttempt(check, attempt.signal));
    if (!attempt.signal.aborted || outcome.ok) return outcome;
    return attempt.signal.reason === ATTEMPT_TIMEOUT ? { ok: false, detail: `timed out after ${formatDuration(timeoutMs)}`, timedOut: true } : { ok: false, detail: "stopped", stopped: true };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
};

/** Where a check goes, fit to print: the URL without credentials, or host:port. */
export function endpointOf(check: HealthCheck): string {
  if (check.kind === "tcp") return `${check.host.includes(":") ? `[${check.host}]` : check.host}:${check.port}`;
  return `${check.method === "GET" ? "" : `${check.method} `}${redactUrl(check.url)}`;
}

/** Status ranges as written: 200, 2xx, 200-299. */
export function statusText(ranges: readonly StatusRange[]): string {
  return ranges
    .map((r) => (r.min === r.max ? String(r.min) : r.min % 100 === 0 && r.max === r.min + 99 ? `${r.min / 100}xx` : `${r.min}-${r.max}`))
    .join(", ");
}

/** The statuses a check accepts when it names none (DEFAULT_STATUS of daemon/config/verify.ts): a failure then shows no "expected". */
const DEFAULT_STATUS = "200-399";

/** A quoted, shortened form of text from the configuration, for messages. */
function quoted(text: string, max = 60): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

function httpAttempt(check: HttpCheck, signal: AbortSignal): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let request: http.ClientRequest | undefined;
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      request?.destroy();
      resolve(result);
    };
    const onAbort = () => finish({ ok: false, detail: "stopped" });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    const url = new URL(check.url);
    // node:https (and node:tls) loaded only here: every other command would pay for them at start.
    const client = url.protocol === "https:" ? process.getBuiltinModule("node:https") : http;
    const headers = { "user-agent": `wfctl/${WFCTL_VERSION} (deploy verify)`, ...check.headers };
    try {
      // A URL object: Node sends its userinfo as Basic authentication. No agent: a fresh connection per attempt.
      request = client.request(url, { method: check.method, headers, agent: false, rejectUnauthorized: !check.insecureTls });
    } catch (err) {
      return finish({ ok: false, detail: scrub((err as Error).message, check.url) });
    }
    request.once("error", (err) => finish({ ok: false, detail: networkError(err, check) }));
    request.once("response", (response) => {
      const status = response.statusCode ?? 0;
      const accepted = check.status.some((r) => status >= r.min && status <= r.max);
      if (!accepted) {
        const expected = statusText(check.status);
        return finish({ ok: false, status, detail: expected === DEFAULT_STATUS ? `HTTP ${status}` : `HTTP ${status} (expected ${expected})` });
      }
      if (check.body === undefined && check.bodyMatch === undefined) return finish({ ok: true, status, detail: `HTTP ${status}` });
      const chunks: Buffer[] = [];
      let size = 0;
      const judge = (truncated: boolean) => {
        const body = Buffer.concat(chunks).toString("utf8");
        const within = truncated ? ` (in its first ${BODY_LIMIT_BYTES / 1024 / 1024} MiB)` : "";
        if (check.body !== undefined && !body.includes(check.body)) {
          return finish({ ok: false, status, detail: `body did not contain ${quoted(check.body)}${within}` });
        }
        if (check.bodyMatch !== undefined && !new RegExp(check.bodyMatch).test(body)) {
          return finish({ ok: false, status, detail: `body did not match /${check.bodyMatch}/${within}` });
        }
        finish({ ok: true, status, detail: `HTTP ${status}` });
      };
      response.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= BODY_LIMIT_BYTES) judge(true);
      });
      response.once("end", () => judge(false));
      response.once("error", (err) => finish({ ok: false, status, detail: networkError(err, check) }));
      response.once("close", () => {
        if (!response.complete) finish({ ok: false, status, detail: "connection closed while reading the body" });
      });
    });
    request.end();
  });
}

function tcpAttempt(check: TcpCheck, signal: AbortSignal): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: check.host, port: check.port });
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => finish({ ok: false, detail: "stopped" });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish({ ok: true, detail: "connected" }));
    socket.once("error", (err) => finish({ ok: false, detail: networkError(err, check) }));
  });
}

/** TLS errors a self-signed or private CA certificate causes, which insecure_tls (or a trusted CA) fixes. */
const UNTRUSTED_CERTIFICATE = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);

/** A network error in a few words. */
export function networkError(err: Error, check: HealthCheck): string {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  const host = check.kind === "tcp" ? check.host : new URL(check.url).hostname;
  if (err.message === "socket hang up") return "connection closed without a response";
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
      return `cannot resolve host ${quoted(host)}`;
    case "EAI_AGAIN":
      return `cannot resolve host ${quoted(host)} (DNS lookup failed; temporary)`;
    case "ETIMEDOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
      return "host unreachable";
    case "ENETUNREACH":
      return "network unreachable";
    case "CERT_HAS_EXPIRED":
      return "TLS: the certificate has expired";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `TLS: the certificate is not valid for ${quoted(host)}`;
    case "EPROTO":
    case "ERR_SSL_WRONG_VERSION_NUMBER":
      return "TLS handshake failed (is the server speaking https?)";
  }
  if (UNTRUSTED_CERTIFICATE.has(code)) return `TLS: untrusted certificate (${err.message}); set insecure_tls: true to skip verification`;
  if (code.startsWith("HPE_")) return "the answer is not HTTP";
  return scrub(err.message, check.kind === "http" ? check.url : "");
}

/** `message` with the URL's credentials (and the URL as written) replaced by their redacted forms. */
function scrub(message: string, url: string): string {
  if (url === "") return message;
  let text = message.replaceAll(url, redactUrl(url));
  try {
    const { username, password } = new URL(url);
    for (const secret of [password, username, decodeURIComponent(password), decodeURIComponent(username)]) {
      if (secret.length >= 3) text = text.replaceAll(secret, URL_REDACTED);
    }
  } catch {
    // Not a URL: nothing more to hide.
  }
  return text;
}
