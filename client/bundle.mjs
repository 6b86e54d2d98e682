#!/usr/bin/env node
// Bundles the built client (dist/client/main.js and what it imports, npm
// packages included) into dist/bundle/wfctl.mjs, which client/bin/wfctl.js
// runs. One file instead of hundreds of modules halves the CLI's start-up
// (see docs/benchmarks.md, figure 3). The in-process engine behind
// --no-daemon stays unbundled: it is loaded from dist/daemon/ only when used.
// Run by `npm run build` after tsc; needs dist/ to be fresh. Last, it writes
// dist/build-id, the id of this build.
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { BUNDLE_TEXT } from "../proto/bundle-text.mjs";
import { descriptorLiterals } from "../proto/descriptor-literals.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "bundle");
rmSync(out, { recursive: true, force: true });

/**
 * Connect's Node transport imports node:https (and with it node:tls) and
 * node:http2 up front, for the TLS and HTTP/2 clients it may make; wfctl
 * speaks HTTP/1.1 on a local socket and never uses them, and loading them
 * cost every command 14 ms of CPU. Each such import becomes a stand-in that
 * loads the module the first time one of its members is read. The build
 * fails if an import is no longer found, rather than quietly loading them again.
 */
const lazyBuiltin = new Map([
  ["node-universal-client", "https"],
  ["http2-session-manager", "http2"],
]);
const lazyBuiltins = {
  name: "wfctl-lazy-builtins",
  transform(code, id) {
    const file = /@connectrpc[\\/]connect-node[\\/]dist[\\/]esm[\\/]([\w-]+)\.js$/.exec(id)?.[1];
    const name = file === undefined ? undefined : lazyBuiltin.get(file);
    if (name === undefined) return null;
    const line = `import * as ${name} from "node:${name}";`;
    if (!code.includes(line)) throw new Error(`client/bundle.mjs: ${id} no longer has \`${line}\`; update lazyBuiltins`);
    return { code: code.replace(line, `const ${name} = new Proxy({}, { get: (_, key) => process.getBuiltinModule("node:${name}")[key] });`), map: null };
  },
};

const bundle = await rolldown({
  input: join(root, "dist", "client", "main.js"),
  platform: "node",
  external: [/[\\/]daemon[\\/]inprocess\.js$/],
  plugins: [lazyBuiltins, descriptorLiterals(join(root, "dist", "proto", "file-desc.js"))],
  logLevel: "warn",
  // main.js imports the commands' modules dynamically so as to load them only
  // when needed; that they import one another statically is expected.
  onLog: (level, log, handler) => log.code === "INEFFECTIVE_DYNAMIC_IMPORT" || handler(level, log),
});
// Chunks: the entry (wfctl.mjs) and "start", what every command loads
// (commander, the OpenTelemetry API, versions, the Headers Connect uses);
// "cli", what the commands load when they run (their code, the Connect
// client, the protobuf runtime and descriptors), in one file rather than
// dozens; the rest (the OpenTelemetry SDK, sinks' libraries, progress
// rendering) in chunks of their own, loaded only by what uses them.
const start = /[\\/](node_modules[\\/](commander|@opentelemetry[\\/]api)[\\/]|dist[\\/]client[\\/](command-words|trace|exit-codes|interrupts)\.js$|dist[\\/]proto[\\/](telemetry|versions|errors|fetch-headers)\.js$)/;
const cli = (id) => /[\\/](dist[\\/](client|proto)[\\/]|node_modules[\\/]@(connectrpc|bufbuild)[\\/])/.test(id) && !/[\\/]dist[\\/]client[\\/]main\.js$/.test(id);
await bundle.write({
  dir: out,
  format: "esm",
  ...BUNDLE_TEXT,
  entryFileNames: "wfctl.mjs",
  codeSplitting: {
    groups: [
      { name: "start", test: start, priority: 2 },
      { name: "cli", test: cli, priority: 1 },
    ],
  },
});
await bundle.close();
// This build's id (proto/versions.ts WFCTL_BUILD): a daemon refuses clients of another build.
writeFileSync(join(root, "dist", "build-id"), `${randomUUID()}\n`);
