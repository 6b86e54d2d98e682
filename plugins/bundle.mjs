#!/usr/bin/env node
// Bundles each cloud plugin — its code, the SDK, wfctl's proto code and its
// cloud SDK — into one file, plugins/<dir>/dist/wfctl-<dir>.mjs: the `bin`
// of its package (@wfctl/<dir>) and what the daemon runs. One file means one
// sha256 pins everything that runs (.wfctl-lock.yaml), nothing is resolved
// from node_modules at run time, and the plugin starts faster.
//
//   node plugins/bundle.mjs                 every cloud plugin
//   node plugins/bundle.mjs provider-s3 ... only those
//
// Bundled from the TypeScript sources, so it needs no `tsc` run first. Run by
// `npm run build`, and by each plugin package's `prepack`.
import { chmodSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { BUNDLE_TEXT, noPgNative } from "../proto/bundle-text.mjs";
import { descriptorLiterals } from "../proto/descriptor-literals.mjs";

const plugins = dirname(fileURLToPath(import.meta.url));
/** The plugins shipped as packages of their own (the local provider ships inside wfctl). */
const CLOUD_PLUGINS = ["provider-s3", "provider-gcs", "provider-azure", "provider-postgres", "state-s3", "state-gcs", "state-azure-blob"];

async function bundle(dir) {
  const pkg = JSON.parse(readFileSync(join(plugins, dir, "package.json"), "utf8"));
  const out = join(plugins, dir, "dist");
  rmSync(out, { recursive: true, force: true });
  const file = join(out, `wfctl-${dir}.mjs`);
  const build = await rolldown({
    input: join(plugins, dir, "main.ts"),
    platform: "node",
    // The sources import "./x.js" meaning x.ts, as tsc's NodeNext wants.
    resolve: { extensionAlias: { ".js": [".ts", ".js"] } },
    // Descriptors decoded at build time, not at every start (proto/descriptor-literals.mjs); pg's optional native binding is never installed.
    plugins: [descriptorLiterals(join(plugins, "..", "proto", "file-desc.ts")), noPgNative()],
    // The version goes into the file (proto/versions.ts), so it needs no package.json beside it to run.
    transform: { define: { __WFCTL_BUNDLED_VERSION__: JSON.stringify(pkg.version) } },
    logLevel: "warn",
  });
  await build.write({
    file,
    format: "esm",
    ...BUNDLE_TEXT,
    // The cloud SDKs import some of their parts lazily: inline them all, so the file is the whole plugin.
    codeSplitting: false,
    banner: `#!/usr/bin/env node\n// ${pkg.name} ${pkg.version}: built by plugins/bundle.mjs; everything it runs is in this file.`,
  });
  await build.close();
  chmodSync(file, 0o755);
  return file;
}

const wanted = process.argv.slice(2);
for (const dir of wanted) if (!CLOUD_PLUGINS.includes(dir)) throw new Error(`plugins/bundle.mjs: unknown plugin "${dir}" (known: ${CLOUD_PLUGINS.join(", ")})`);
await Promise.all((wanted.length > 0 ? wanted : CLOUD_PLUGINS).map(bundle));
