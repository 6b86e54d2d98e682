#!/usr/bin/env node
// Bundles the built daemon (dist/daemon/main.js and what it imports, npm
// packages included) into dist/daemon-bundle/, which daemon/bin/wfctld.js
// runs: loading a few files instead of hundreds of modules halves the
// daemon's start-up (0.6 s to 0.3 s of CPU here), paid by every daemon a CI
// job, a test or `wfctl` on demand starts. The configuration parser's worker
// is a second entry, written beside the daemon as parse-worker.js, where
// daemon/config/offthread.ts looks for it. The built-in local provider, a
// plugin process every daemon using it starts, is bundled on its own into
// provider-local.js (plugins/provider-local/bin/wfctl-provider-local.js runs
// it): the plugin SDK and gRPC in one file start in about two thirds of the
// CPU time of hundreds of modules. The in-process engine behind --no-daemon
// stays unbundled (dist/daemon/). Run by `npm run build` after tsc; needs
// dist/ to be fresh.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { BUNDLE_TEXT } from "../proto/bundle-text.mjs";
import { descriptorLiterals } from "../proto/descriptor-literals.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "daemon-bundle");
// Descriptors decoded at build time, not at every start (proto/descriptor-literals.mjs).
const descriptors = descriptorLiterals(join(root, "dist", "proto", "file-desc.js"));
rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({
  input: { wfctld: join(root, "dist", "daemon", "main.js"), "parse-worker": join(root, "dist", "daemon", "config", "parse-worker.js") },
  platform: "node",
  plugins: [descriptors],
  logLevel: "warn",
});
await bundle.write({ dir: out, format: "esm", ...BUNDLE_TEXT, entryFileNames: "[name].js", chunkFileNames: "chunks/[name]-[hash].js" });
await bundle.close();
const local = await rolldown({ input: join(root, "dist", "plugins", "provider-local", "main.js"), platform: "node", plugins: [descriptors], logLevel: "warn" });
// What the SDK loads only when used (the OpenTelemetry SDK, with OTEL_* set) stays in chunks of its own.
await local.write({ dir: join(out, "provider-local"), format: "esm", ...BUNDLE_TEXT, entryFileNames: "main.js", chunkFileNames: "[name]-[hash].js" });
await local.close();
