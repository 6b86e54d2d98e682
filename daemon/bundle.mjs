#!/usr/bin/env node
// Bundles the built daemon (dist/daemon/main.js and what it imports, npm
// packages included) into dist/daemon-bundle/, which daemon/bin/wfctld.js
// runs: loading a few files instead of hundreds of modules halves the
// daemon's start-up (0.6 s to 0.3 s of CPU here), paid by every daemon a CI
// job, a test or `wfctl` on demand starts. The configuration parser's worker
// is a second entry, written beside the daemon as parse-worker.js, where
// daemon/config/offthread.ts looks for it. The in-process engine behind
// --no-daemon stays unbundled (dist/daemon/). Run by `npm run build` after
// tsc; needs dist/ to be fresh.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "daemon-bundle");
rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({
  input: { wfctld: join(root, "dist", "daemon", "main.js"), "parse-worker": join(root, "dist", "daemon", "config", "parse-worker.js") },
  platform: "node",
  logLevel: "warn",
});
// Licence comments stay; JSDoc goes (less to parse, and no code quoted in a comment reads as an import).
await bundle.write({ dir: out, format: "esm", entryFileNames: "[name].js", chunkFileNames: "chunks/[name]-[hash].js", comments: { legal: true, annotation: false, jsdoc: false } });
await bundle.close();
