// A local stand-in for the part of GitHub's REST API that secrets use: the
// repository and environment secrets public keys, and PUT of a secret. It
// holds a real libsodium key pair and keeps the ciphertext it receives, so a
// test can open the sealed box with the private key and compare the value.
// There is no network here: this is the closest real path to api.github.com.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import sodium from "libsodium-wrappers";

export interface ReceivedSecret {
  /** "owner/repo" or "owner/repo environment NAME". */
  scope: string;
  name: string;
  keyId: string;
  /** Base64 ciphertext, exactly as received. */
  encryptedValue: string;
}

export interface GitHubApiServer {
  url: string;
  token: string;
  /** Every PUT accepted, in order. */
  received: ReceivedSecret[];
  /** Every request line, e.g. "GET /repos/o/r/actions/secrets/public-key". */
  requests: string[];
  /** Opens a received sealed box with the server's private key. */
  decrypt(encryptedValue: string): string;
  /** Makes requests under this path prefix answer with `status` (and a GitHub-style message). */
  failUnder(prefix: string, status: number, message: string): void;
  /** Undoes every failUnder. */
  heal(): void;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1; requests must carry `Bearer <token>`. */
export async function startGitHubApi(token: string): Promise<GitHubApiServer> {
  await sodium.ready;
  const pair = sodium.crypto_box_keypair();
  const keyId = `key-${Date.now()}`;
  const received: ReceivedSecret[] = [];
  const requests: string[] = [];
  const failures: { prefix: string; status: number; message: string }[] = [];
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body === undefined ? {} : { "content-type": "application/json" });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    requests.push(`${req.method} ${path}`);
    const failure = failures.find((f) => path.startsWith(f.prefix));
    if (failure) return send(res, failure.status, { message: failure.message });
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { message: "Bad credentials" });
    if (req.headers["x-github-api-version"] !== "2022-11-28") return send(res, 400, { message: "missing X-GitHub-Api-Version" });
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(?:actions|environments\/([^/]+))\/secrets\/([^/]+)$/.exec(path);
    if (!m) return send(res, 404, { message: "Not Found" });
    const [, owner, repo, environment, last] = m as unknown as [string, string, string, string | undefined, string];
    const scope = `${decodeURIComponent(owner)}/${decodeURIComponent(repo)}${environment ? ` environment ${decodeURIComponent(environment)}` : ""}`;
    if (req.method === "GET" && last === "public-key") {
      return send(res, 200, { key_id: keyId, key: sodium.to_base64(pair.publicKey, sodium.base64_variants.ORIGINAL) });
    }
    if (req.method === "PUT") {
      let text = "";
      for await (const chunk of req) text += (chunk as Buffer).toString("utf8");
      const body = JSON.parse(text) as { encrypted_value?: unknown; key_id?: unknown };
      if (typeof body.encrypted_value !== "string" || body.key_id !== keyId) return send(res, 422, { message: "Invalid request: encrypted_value and key_id required" });
      const name = decodeURIComponent(last);
      const existed = received.some((r) => r.scope === scope && r.name === name);
      received.push({ scope, name, keyId: body.key_id, encryptedValue: body.encrypted_value });
      return send(res, existed ? 204 : 201, existed ? undefined : {});
    }
    return send(res, 404, { message: "Not Found" });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    received,
    requests,
    decrypt: (encryptedValue) =>
      sodium.to_string(sodium.crypto_box_seal_open(sodium.from_base64(encryptedValue, sodium.base64_variants.ORIGINAL), pair.publicKey, pair.privateKey)),
    failUnder: (prefix, status, message) => failures.push({ prefix, status, message }),
    heal: () => failures.splice(0),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
