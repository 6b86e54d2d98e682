// Build time: how every bundle script writes its code, and what it checks
// (client/bundle.mjs, daemon/bundle.mjs, plugins/bundle.mjs). ASCII only,
// non-ASCII escaped where that changes nothing: one non-ASCII character (an
// em dash in a message) sends a whole source through UTF-8 decoding's slow
// path and keeps it as UTF-16 (the client's main chunk decoded in 6 ms
// instead of 1.8, the daemon's entry in 8.5 instead of 2.8, at every start).
// Licence comments stay; JSDoc goes (less to read, and no code quoted in a
// comment reads as an import). test/unit/bundles.test.ts checks the ASCII.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export const BUNDLE_TEXT = { charset: "ascii", comments: { legal: true, annotation: false, jsdoc: false } };

/**
 * Fails the build if a chunk in `dir` whose name matches `chunks` has an
 * import(): such a chunk would be compiled without the code cache
 * (proto/compile-cache.ts; Node 20 loses a cached script's import()
 * callback). `script` names the bundle script in the error.
 */
export function refuseDynamicImports(dir, chunks, script) {
  for (const file of readdirSync(dir).filter((f) => chunks.test(f))) {
    if (readFileSync(join(dir, file), "utf8").includes("import(")) {
      throw new Error(`${script}: ${join(dir, file)} has an import(), which Node 20 cannot serve from the code cache; load what it imports with require() or from a file of its own`);
    }
  }
}

/**
 * A rolldown plugin for bundles with pg in them (the daemon's, the postgres
 * plugins'). pg loads its optional native client, pg-native, only when
 * `pg.native` is read, which wfctl never does; left as an import, the bundle
 * would name in a require() a package wfctl does not depend on. It resolves
 * to a module that says so if it is ever loaded.
 */
export function noPgNative() {
  const id = "\0wfctl-pg-native";
  return {
    name: "wfctl-no-pg-native",
    resolveId: (source) => (source === "pg-native" ? id : null),
    load: (source) => (source === id ? 'throw new Error("pg-native is not part of wfctl: its postgres code uses pg\'s JavaScript client");\n' : null),
  };
}
