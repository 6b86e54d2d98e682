// What the real wfctl and the wfctld it starts load of Node's own modules.
// Every command pays for what its process loads, and the first command of a
// CI job for what its daemon loads before answering; these were loaded for
// nothing: Node's fetch (undici, 40 ms of CPU: Connect's Headers in both, pg
// probing for Cloudflare in the daemon), and in the client the TLS and
// HTTP/2 modules (14 ms), which a client speaking HTTP/1.1 on a local
// socket never uses; and in a `daemon status`, the modules only other
// commands use (child_process, zlib, crypto, readline: 6 ms). A preloaded
// script records each process's list of loaded built-in modules as it exits.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { waitFor } from "../helpers/processes.js";

interface Loaded {
  argv: string[];
  modules: string[];
}

/** Node's fetch, and what only TLS or HTTP/2 clients need. */
const FETCH = "NativeModule internal/deps/undici/undici";
const TLS_AND_HTTP2 = ["NativeModule tls", "NativeModule https", "NativeModule http2"];
/** What the client's bundle loads only when used (client/bundle.mjs, lazyRequires). */
const UNUSED_BY_STATUS = ["NativeModule child_process", "NativeModule zlib", "NativeModule crypto", "NativeModule readline/promises", "NativeModule timers/promises"];

describe("what a command and its daemon load", () => {
  const sandbox = cliSandbox("wft-start-cost-");

  it("a plan and a status load no fetch, TLS or HTTP/2 code in wfctl (a status none of what only other commands use), and no fetch code in the wfctld they start", async () => {
    const records = join(sandbox.dir, "loaded");
    const hook = join(sandbox.dir, "record-loaded.cjs");
    writeFileSync(
      hook,
      `const { mkdirSync, writeFileSync } = require("node:fs");
       // The process's main thread only: a worker (the daemon's configuration parser) would write under the same pid.
       if (require("node:worker_threads").isMainThread) process.on("exit", () => {
         mkdirSync(${JSON.stringify(records)}, { recursive: true });
         writeFileSync(${JSON.stringify(records)} + "/" + process.pid + ".json", JSON.stringify({ argv: process.argv, modules: process.moduleLoadList }));
       });\n`,
    );
    const config = join(sandbox.dir, "infra.yaml");
    writeFileSync(
      config,
      "modules:\n" +
        "  - { name: state, type: iac.state, config: { backend: filesystem, directory: .wfctl/state } }\n" +
        "  - { name: local, type: iac.provider, config: { provider: local, root: out } }\n" +
        "  - { name: page, type: local.file, provider: local, config: { path: page.txt, content: hello } }\n",
    );
    // NODE_OPTIONS reaches the daemon the plan starts (it inherits the client's environment).
    const env = { NODE_OPTIONS: `--require ${hook}` };
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config], { env }), 0);
    expectExit(await sandbox.cli.run(["daemon", "status"], { env }), 0);
    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);

    const read = (): Loaded[] => (existsSync(records) ? readdirSync(records).map((f) => JSON.parse(readFileSync(join(records, f), "utf8")) as Loaded) : []);
    const ran = (bin: string) => read().filter((r) => r.argv[1]?.endsWith(bin));
    await waitFor(() => ran("wfctld.js").length === 1, 15_000, "the daemon's record of what it loaded, written as it exits");
    const clients = ran("wfctl.js");
    expect(clients.length).toBe(2);
    for (const client of clients) {
      expect(client.modules.filter((m) => m === FETCH || TLS_AND_HTTP2.includes(m)), client.argv.join(" ")).toEqual([]);
      expect(client.modules).toContain("NativeModule http"); // the list is the real one: the client's HTTP/1.1 is in it
    }
    // A status talks to a running daemon, and nothing more: no daemon to start, no prompt, no compression, no operation id.
    const status = clients.find((c) => c.argv.includes("status"));
    expect(status?.modules.filter((m) => UNUSED_BY_STATUS.includes(m))).toEqual([]);
    const [daemon] = ran("wfctld.js");
    expect(daemon?.modules).not.toContain(FETCH);
    expect(daemon?.modules).toContain("NativeModule http2"); // it serves HTTP/2 as well as HTTP/1.1
  });
});
