// A throwaway Cloud Storage emulator for the tests: firebase-tools' Storage
// emulator (a Node implementation of the GCS JSON API) in its own process on
// a free loopback port, its blobs in a temporary directory. No credentials;
// buckets come into being on first use. See gcs-emulator.cjs for where it
// differs from GCS and what is done about it: with `conditionalWrites: true`
// a shim honours preconditions (ifGenerationMatch…) as GCS does, without it
// they are ignored, as the emulator itself does.
import { join } from "node:path";
import { ROOT } from "../helpers/paths.js";
import { type LoopbackServer, startLoopbackServer } from "./process.js";

/** endpoint: the JSON API endpoint (config.api_endpoint). */
export type GcsServer = LoopbackServer;

/** Starts the emulator (it keeps blobs under its TMPDIR, the server's own directory). */
export function startGcsServer(options: { conditionalWrites?: boolean } = {}): Promise<GcsServer> {
  const script = join(ROOT, "test", "servers", "gcs-emulator.cjs");
  return startLoopbackServer("gcs emulator", () => [script, options.conditionalWrites ? "conditional" : "plain"], 30_000);
}
