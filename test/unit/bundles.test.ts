// What the bundle scripts write: every file a command, a daemon or a plugin
// loads is ASCII (the three bundle scripts write with proto/bundle-text.mjs's
// options, charset "ascii"). One non-ASCII character, an em dash in a
// message, sends the whole source through UTF-8 decoding's slow path and
// keeps it as UTF-16: the client's main chunk took 6 ms to decode instead of
// 2 ms, the daemon's 8.5 ms instead of 2.8, at every start.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, cloudPlugin } from "../helpers/paths.js";

const CLOUD_PLUGINS = ["provider-s3", "provider-gcs", "provider-azure", "provider-postgres", "state-s3", "state-gcs", "state-azure-blob"];

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => /\.[cm]?js$/.test(f))
    .map((f) => join(dir, f));
}

/** The first non-ASCII byte of `file` and the line it is on, or undefined. */
function nonAscii(file: string): string | undefined {
  const bytes = readFileSync(file);
  const at = bytes.findIndex((b) => b > 0x7f);
  if (at < 0) return undefined;
  const line = bytes.subarray(0, at).toString("latin1").split("\n").length;
  return `${file.slice(ROOT.length + 1)}:${line}`;
}

describe("the bundles", () => {
  it("are ASCII: the client's, the daemon's, the local provider's and every cloud plugin's", () => {
    const all = [...files(join(ROOT, "dist", "bundle")), ...files(join(ROOT, "dist", "daemon-bundle")), ...CLOUD_PLUGINS.map(cloudPlugin).filter((f) => existsSync(f))];
    expect(all.length).toBeGreaterThan(10);
    expect(all.map(nonAscii).filter((f) => f !== undefined)).toEqual([]);
  });
});
