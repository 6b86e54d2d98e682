// A role's password: read from the environment variable `password_env`
// names (the plugin's own environment), never from configuration. What leaves
// the plugin is derived from it, never the value: a fingerprint kept in state
// to notice a new value, and the SCRAM-SHA-256 secret the server stores, so
// that the statement setting it holds no plaintext (as psql's \password does).
import { createHash, createHmac, pbkdf2, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { JsonObject } from "../sdk/index.js";
import { invalid } from "./checks.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FINGERPRINT_BYTES = 32;
/** PostgreSQL's default scram_iterations. */
const SCRAM_ITERATIONS = 4096;

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

/**
 * The password the variable named by `password_env` holds, or undefined when
 * the field is not set. Errors name the field and the variable, never a value.
 */
export function passwordFromEnv(config: JsonObject, what: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = config["password_env"];
  if (name === undefined || name === null) return undefined;
  if (typeof name !== "string" || !ENV_NAME.test(name)) {
    throw invalid(what, "password_env", `must name an environment variable, got ${JSON.stringify(name)}`);
  }
  const value = env[name];
  if (value === undefined || value === "") {
    throw invalid(what, "password_env", `names the environment variable ${name}, which is not set in the plugin's environment (wfctl hands it on from the environment of the wfctl command whose request started the plugin, or from the plugin's env in wfctl.yaml)`);
  }
  return value;
}

/** `scrypt$<salt b64>$<hash b64>`: enough to tell whether a password is still the one set, useless for finding it. */
export async function fingerprint(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, FINGERPRINT_BYTES);
  return `scrypt$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Whether `password` is the one `fingerprint` was made from; false for anything malformed. */
export async function matchesFingerprint(password: string, print: unknown): Promise<boolean> {
  if (typeof print !== "string") return false;
  const [kind, salt, hash] = print.split("$");
  if (kind !== "scrypt" || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, "base64");
  if (expected.length !== FINGERPRINT_BYTES) return false;
  return timingSafeEqual(await scryptAsync(password, Buffer.from(salt, "base64"), FINGERPRINT_BYTES), expected);
}

/**
 * The SCRAM-SHA-256 secret PostgreSQL stores for `password` (RFC 5802/7677,
 * in the server's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
 * form). The server stores a secret given in this form as it is. Non-ASCII
 * passwords are NFKC-normalised, SASLprep's main step.
 */
export async function scramSecret(password: string): Promise<string> {
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password.normalize("NFKC"), salt, SCRAM_ITERATIONS, 32, "sha256");
  const hmac = (text: string) => createHmac("sha256", salted).update(text).digest();
  const storedKey = createHash("sha256").update(hmac("Client Key")).digest();
  const serverKey = hmac("Server Key");
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
