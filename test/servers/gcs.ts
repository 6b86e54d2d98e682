// A throwaway Cloud Storage emulator for the tests: firebase-tools' Storage
// emulator (a Node implementation of the GCS JSON API) in its own process on
// a free loopback port, its blobs in a temporary directory. No credentials.
// See gcs-emulator.cjs for where it differs from GCS and what is done about
// it: with `conditionalWrites: true` a shim honours preconditions
// (ifGenerationMatch…) as GCS does, without it they are ignored, as the
// emulator itself does; `buckets` says whether and how the bucket part of the
// JSON API is served (gcs-buckets.cjs).
import { join } from "node:path";
import { ROOT } from "../helpers/paths.js";
import { type LoopbackServer, startLoopbackServer } from "./process.js";

/** endpoint: the JSON API endpoint (config.api_endpoint). */
export type GcsServer = LoopbackServer;

/**
 * How buckets come to exist.
 * - `first-use` (the default): the bucket API is served, and a request about
 *   the objects of a bucket nobody created creates it, as the emulator does;
 * - `api`: the bucket API is served and buckets come only from
 *   buckets.insert: objects of a missing bucket are 404, as on GCS;
 * - `none`: the emulator as it is, without a bucket API (501 to bucket
 *   calls; a bucket GET answers 404 about an object).
 */
export type GcsBuckets = "first-use" | "api" | "none";

/** Starts the emulator (it keeps blobs under its TMPDIR, the server's own directory). */
export function startGcsServer(options: { conditionalWrites?: boolean; buckets?: GcsBuckets } = {}): Promise<GcsServer> {
  const script = join(ROOT, "test", "servers", "gcs-emulator.cjs");
  const args = [script, options.conditionalWrites ? "conditional" : "plain", options.buckets ?? "first-use"];
  return startLoopbackServer("gcs emulator", () => args, 30_000);
}

/** A JSON API answer: the HTTP status, the body, and the body parsed when it is JSON. */
export interface JsonApiAnswer {
  status: number;
  text: string;
  body: Record<string, unknown> | undefined;
}

/**
 * Plain HTTP to the server's JSON API (`path` under /storage/v1), as any
 * client would send it: for changes made behind a plugin's back, and for
 * checking what the server answers.
 */
export async function gcsJsonApi(server: GcsServer, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<JsonApiAnswer> {
  const res = await fetch(`${server.endpoint}/storage/v1${path}`, {
    method,
    ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  const json = (res.headers.get("content-type") ?? "").includes("application/json");
  return { status: res.status, text, body: json && text !== "" ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}
