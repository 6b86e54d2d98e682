#!/usr/bin/env node
// Bundles the built client (dist/client/launch.js and what it imports, npm
// packages included) into dist/bundle/wfctl.cjs, which client/bin/wfctl.js
// runs. One file instead of hundreds of modules halves the CLI's start-up
// (see docs/benchmarks.md, figure 3). The bundle is CommonJS: Node's ESM
// loader costs a command about 20 ms more, and Node 20 can serve CommonJS
// from a V8 code cache (proto/compile-cache.ts), which saves about 20 more.
// The in-process engine behind --no-daemon stays unbundled (ESM): it is loaded
// from dist/daemon/ only when used, through dist/bundle/inprocess.cjs.
// Run by `npm run build` after tsc; needs dist/ to be fresh. Last, it writes
// dist/build-id, the id of this build.
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { BUNDLE_TEXT, refuseDynamicImports } from "../proto/bundle-text.mjs";
import { descriptorLiterals } from "../proto/descriptor-literals.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "bundle");
rmSync(out, { recursive: true, force: true });

/** A stand-in for Node module `name` that loads it when one of its members is first read. */
const lazyModule = (name) => `new Proxy({}, { get: (_, key) => (key === "default" ? process.getBuiltinModule("node:${name}") : process.getBuiltinModule("node:${name}")[key]) })`;

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
    return { code: code.replace(line, `const ${name} = ${lazyModule(name)};`), map: null };
  },
};

/**
 * The same for Node modules most commands never use, in the chunks every
 * command loads: a CommonJS chunk requires all its Node modules up front, and
 * these cost a `daemon status` about 15 ms of CPU for nothing: child_process
 * (starting a daemon; commander's executable subcommands, which wfctl has
 * none of), zlib (Connect's compressions, which wfctl turns off), crypto
 * (operation ids), readline/promises (prompts), fs/promises and
 * timers/promises. Each becomes a stand-in as above. The build fails if a
 * require it expects is no longer found.
 */
const LAZY_REQUIRES = ["child_process", "zlib", "crypto", "readline/promises", "fs/promises", "timers/promises"];
const lazyRequires = {
  name: "wfctl-lazy-requires",
  renderChunk(code, chunk) {
    const group = /^(cli|start)$/.exec(chunk.name)?.[1];
    if (group === undefined) return null;
    let text = code;
    const replace = (from, to) => {
      if (!text.includes(from)) throw new Error(`client/bundle.mjs: the ${group} chunk no longer has \`${from}\`; update lazyRequires`);
      text = text.replace(from, to);
    };
    if (group === "start") {
      replace('const childProcess = require("node:child_process");', `const childProcess = ${lazyModule("child_process")};`);
      return { code: text, map: null };
    }
    for (const name of LAZY_REQUIRES) {
      const binding = `node_${name.replace("/", "_")}`;
      replace(`let ${binding} = require("node:${name}");`, `let ${binding} = ${lazyModule(name)};`);
      // rolldown's interop copies every member at once: the stand-in serves them as they are read.
      text = text.replace(`${binding} = require_rolldown_runtime.__toESM(${binding}, 1);\n`, "");
    }
    // Connect's compressions promisify zlib's functions as it loads; wfctl accepts none (client/connection.ts).
    const zlibFunctions = /= \(0, node_util\.promisify\)\(node_zlib\.(\w+)\);/g;
    if ([...text.matchAll(zlibFunctions)].length !== 4) throw new Error("client/bundle.mjs: the cli chunk no longer promisifies zlib's four functions as it loads; update lazyRequires");
    text = text.replace(zlibFunctions, "= (...args) => (0, node_util.promisify)(node_zlib.$1)(...args);");
    return { code: text, map: null };
  },
};

/**
 * The in-process engine is ESM (dist/daemon/), which CommonJS reaches only
 * through import(); and a chunk with an import() would be compiled without the
 * code cache (proto/compile-cache.ts). So its one import() lives in a file of
 * its own, inprocess.cjs, and the chunks call that instead.
 */
const ENGINE_IMPORT = 'import("../daemon/inprocess.js")';
const ENGINE_FILE = "inprocess.cjs";
const engineImport = {
  name: "wfctl-engine-import",
  renderChunk(code) {
    return code.includes(ENGINE_IMPORT) ? { code: code.replaceAll(ENGINE_IMPORT, `require("./${ENGINE_FILE}")()`), map: null } : null;
  },
};

const bundle = await rolldown({
  input: join(root, "dist", "client", "launch.js"),
  platform: "node",
  external: [/[\\/]daemon[\\/]inprocess\.js$/],
  plugins: [lazyBuiltins, lazyRequires, engineImport, descriptorLiterals(join(root, "dist", "proto", "file-desc.js"))],
  logLevel: "warn",
  // main.js imports the commands' modules dynamically so as to load them only
  // when needed; that they import one another statically is expected.
  onLog: (level, log, handler) => log.code === "INEFFECTIVE_DYNAMIC_IMPORT" || handler(level, log),
});
// Chunks: the entry (wfctl.cjs: launch.js and the compile cache, nothing it
// caches); main.js's and "start", what every command loads (commander, the
// OpenTelemetry API, versions, the Headers Connect uses); "cli", what the
// commands load when they run (their code, the Connect client, the protobuf
// runtime and descriptors), in one file rather than dozens; the rest (the
// OpenTelemetry SDK, sinks' libraries, progress rendering) in chunks of their
// own, loaded only by what uses them. Chunk names carry a hash of their
// content, which the compile cache files its caches under.
const start = /[\\/](node_modules[\\/](commander|@opentelemetry[\\/]api)[\\/]|dist[\\/]client[\\/](command-words|trace|exit-codes|interrupts)\.js$|dist[\\/]proto[\\/](telemetry|versions|errors|fetch-headers)\.js$)/;
const cli = (id) => /[\\/](dist[\\/](client|proto)[\\/]|node_modules[\\/]@(connectrpc|bufbuild)[\\/])/.test(id) && !/[\\/]dist[\\/](client[\\/](launch|main)|proto[\\/]compile-cache)\.js$/.test(id);
await bundle.write({
  dir: out,
  format: "cjs",
  ...BUNDLE_TEXT,
  entryFileNames: "wfctl.cjs",
  chunkFileNames: "[name]-[hash].cjs",
  codeSplitting: {
    groups: [
      { name: "start", test: start, priority: 2 },
      { name: "cli", test: cli, priority: 1 },
    ],
  },
});
await bundle.close();
writeFileSync(
  join(out, ENGINE_FILE),
  `// Written by client/bundle.mjs: the in-process engine (ESM), for the CommonJS chunks.\nmodule.exports = () => ${ENGINE_IMPORT};\n`,
);
// The chunks every command loads (the entry is compiled by Node before the cache is on).
refuseDynamicImports(out, /^(main|start|cli)-/, "client/bundle.mjs");
// This build's id (proto/versions.ts WFCTL_BUILD): a daemon refuses clients of another build.
writeFileSync(join(root, "dist", "build-id"), `${randomUUID()}\n`);
