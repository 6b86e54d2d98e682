// The state-backend conformance kit against every backend there is, each
// against a real store: memory, files on disk, a real PostgreSQL server, and
// a state backend served by a plugin process over gRPC. And a plugin that
// claims a core backend's name is refused at load.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseInfraConfig } from "../../daemon/config/load.js";
import { FilesystemStateStore } from "../../daemon/state/filesystem.js";
import { MemoryStores, openStateStore } from "../../daemon/state/open.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import { PostgresStateStore, closePostgresPools, postgresSettings } from "../../daemon/state/postgres.js";
import { PluginCatalog } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { servedStateStore } from "../../plugins/conformance/served-store.js";
import { describeStateBackendConformance } from "../../plugins/conformance/vitest.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { ErrorCode } from "../../proto/errors.js";
import { encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { createDatabase } from "../servers/postgres.js";
import { fixture, quiet } from "../helpers/supervisors.js";

let n = 0;
const live = () => ({ signal: new AbortController().signal });

describeStateBackendConformance("memory", async () => new MemoryStateStore());

describe("filesystem", () => {
  const base = mkdtempSync(join(tmpdir(), "wft-conf-fs-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  describeStateBackendConformance("filesystem", () => FilesystemStateStore.open(join(base, `s${n++}`, "default")));
});

describe("postgres", () => {
  let url = "";
  beforeAll(async () => {
    url = await createDatabase(inject("postgresUrl"), "wfctl_conformance");
  });
  afterAll(() => closePostgresPools());
  // Each check gets its own namespace: a fresh, empty store in the same schema.
  describeStateBackendConformance("postgres", () => PostgresStateStore.open(postgresSettings({ url }, "test", {}), `conformance-${process.pid}-${n++}`, live()));
});

describe("served by a plugin", () => {
  let s: PluginSupervisor;
  beforeAll(() => {
    s = new PluginSupervisor(new PluginCatalog([fixture("memory-state", { kind: "state_backend", name: "fixture-memory" })]), quiet);
  });
  afterAll(() => s.stopAll());
  describeStateBackendConformance("plugin (fixture-memory over gRPC)", async () => {
    // As the daemon opens a backend: one process per configuration and namespace, configured once (again only after a restart).
    const namespace = `ns-${++n}`;
    const instance = await s.acquire(s.catalog.get("state_backend", "fixture-memory"), `conformance-${namespace}`, async (i) => {
      await i.client(IaCStateBackendSetup).configure({ backend: "fixture-memory", configJson: encodeJson({}), workingDir: tmpdir(), namespace });
    });
    // Closed after its check: the process goes with its store.
    return servedStateStore({ backend: () => instance.client(IaCStateBackend), controller: () => instance.client(PluginController), close: () => instance.stop() });
  });
});

describe("a plugin claiming a core backend name", () => {
  it("is refused at load, with an error that says the name is reserved", async () => {
    const s = new PluginSupervisor(new PluginCatalog([{ ...fixture("claims-core", { kind: "state_backend" }), name: "rogue" }]), quiet);
    try {
      const config = parseInfraConfig("/work/infra.yaml", "modules:\n  - name: state\n    type: iac.state\n    config: { backend: rogue }\n", "");
      const err = await rejectionOf(openStateStore(config, { supervisor: s, catalog: s.catalog, memory: new MemoryStores(), signal: live().signal, environment: {} }));
      // The plugin's own code stays: it never started (the SDK refused to serve it).
      expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
      expect(err.message).toContain('cannot open state backend "rogue"');
      expect(err.message).toContain("postgres are reserved for wfctl's core backends");
    } finally {
      await s.stopAll();
    }
  });
});
