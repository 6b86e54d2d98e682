#!/usr/bin/env node
// Bundles the built daemon (dist/daemon/launch.js and what it imports, npm
// packages included) into dist/daemon-bundle/, which daemon/bin/wfctld.js
// runs: loading a few files instead of hundreds of modules halves the
// daemon's start-up (0.6 s to 0.3 s of CPU here), paid by every daemon a CI
// job, a test or `wfctl` on demand starts. CommonJS, like the client's
// (client/bundle.mjs): it starts about 15 ms sooner than ESM, and its chunks
// (named after a hash of their content) are served from the compile cache
// (proto/compile-cache.ts), 40 ms sooner again. The daemon's worker threads
// are entries of their own above the chunks, where daemon/worker-script.ts
// finds them: the configuration parser's, parse-worker.cjs (from
// parse-worker-launch.ts, which turns the compile cache on for it too), and
// the state writer's, write-worker.cjs. The built-in local provider, a
// plugin process every daemon using it starts, is bundled on its own into
// provider-local/ (plugins/provider-local/bin/wfctl-provider-local.js runs its
// main.cjs), the same way: the plugin SDK and gRPC in a few files start in
// about two thirds of the CPU time of hundreds of modules. The in-process
// engine behind --no-daemon stays unbundled (dist/daemon/). Run by
// `npm run build` after tsc; needs dist/ to be fresh.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { BUNDLE_TEXT, noPgNative, refuseDynamicImports } from "../proto/bundle-text.mjs";
import { descriptorLiterals } from "../proto/descriptor-literals.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "daemon-bundle");
// Descriptors decoded at build time, not at every start (proto/descriptor-literals.mjs).
const descriptors = descriptorLiterals(join(root, "dist", "proto", "file-desc.js"));
rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({
  input: { wfctld: join(root, "dist", "daemon", "launch.js"), "parse-worker": join(root, "dist", "daemon", "config", "parse-worker-launch.js"), "write-worker": join(root, "dist", "daemon", "state", "write-worker.js") },
  platform: "node",
  plugins: [descriptors, noPgNative()],
  logLevel: "warn",
});
await bundle.write({ dir: out, format: "cjs", ...BUNDLE_TEXT, entryFileNames: "[name].cjs", chunkFileNames: "chunks/[name]-[hash].cjs" });
await bundle.close();
// What every daemon loads (the OpenTelemetry SDK's chunks, loaded with OTEL_* set, may have an import()).
refuseDynamicImports(join(out, "chunks"), /^(main|env-references)-/, "daemon/bundle.mjs");
// The local provider: CommonJS and the compile cache too (plugins/provider-local/launch.ts), its entry main.cjs.
const local = await rolldown({ input: join(root, "dist", "plugins", "provider-local", "launch.js"), platform: "node", plugins: [descriptors], logLevel: "warn" });
// What the SDK loads only when used (the OpenTelemetry SDK, with OTEL_* set) stays in chunks of its own.
await local.write({ dir: join(out, "provider-local"), format: "cjs", ...BUNDLE_TEXT, entryFileNames: "main.cjs", chunkFileNames: "[name]-[hash].cjs" });
await local.close();
refuseDynamicImports(join(out, "provider-local"), /^main-/, "daemon/bundle.mjs");
