// Figure 1, state across the plugin boundary: one ~1 MB record (thousands
// of nested output entries) through Lock → GetState → SaveState → Unlock,
// in-process (the memory store) and through a plugin-backed store over gRPC
// (PluginStateStore against test/fixtures/plugins/memory-state.mjs, a real
// plugin process run by the real supervisor). The floor is what the boundary
// a full encode and decode of that record once: stateToProto + toBinary +
// fromBinary + stateFromProto, then reading its outputs and config (which
// stateFromProto leaves encoded until read). The cycle is what the daemon
// does when it moves a record without reading it: the record's JSON crosses
// as opaque bytes (withFields keeps it encoded; the stores keep encoded bytes).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { ROOT } from "./cli.mjs";
import { msSince, ratioCheck, spread, timeMs } from "./report.mjs";

const dist = (path) => import(join(ROOT, "dist", path));

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ quick }) {
  const runs = quick ? 5 : 40;
  const warmup = quick ? 2 : 5;
  const { largeOutputs, sampleState } = await dist("plugins/conformance/state-backend.js");
  const { stateToProto, stateFromProto, withFields } = await dist("proto/state-store.js");
  const { IaCStateSchema, IaCStateBackend, IaCStateBackendSetup } = await dist("proto/gen/wfctl/plugin/v1/state_pb.js");
  const { encodeJson } = await dist("proto/json.js");
  const { MemoryStateStore } = await dist("daemon/state/memory.js");
  const { PluginStateStore } = await dist("proto/plugin-state-store.js");
  const { PluginCatalog } = await dist("daemon/supervisor/catalog.js");
  const { PluginSupervisor } = await dist("daemon/supervisor/supervisor.js");

  const state = sampleState("big", { outputs: largeOutputs(1_000_000) });
  const entries = Object.values(state.outputs).reduce((n, group) => n + Object.keys(group).length, 0);
  const jsonBytes = encodeJson(state.outputs).length;
  const wireBytes = toBinary(IaCStateSchema, stateToProto(state)).length;

  const spec = { name: "fixture-memory", kind: "state_backend", executable: process.execPath, args: [join(ROOT, "test", "fixtures", "plugins", "memory-state.mjs")], env: {}, source: "bench fixture" };
  const supervisor = new PluginSupervisor(new PluginCatalog([spec]), pino({ level: "silent" }));
  try {
    const spawnStarted = process.hrtime.bigint();
    const instance = await supervisor.acquire(supervisor.catalog.get("state_backend", "fixture-memory"), "bench", async () => {});
    const spawnMs = msSince(spawnStarted);
    await instance.client(IaCStateBackendSetup).configure({ backend: "fixture-memory", configJson: encodeJson({}), workingDir: tmpdir(), namespace: "bench" });
    const stores = { inProcess: new MemoryStateStore(), plugin: new PluginStateStore(() => instance.client(IaCStateBackend)) };
    const ctx = { signal: new AbortController().signal };
    for (const store of Object.values(stores)) await store.saveState(state, ctx);

    const cycle = (store) => async () => {
      const lock = await store.lock("big", { holder: "bench", operation: "apply", version: "bench" }, ctx);
      const got = await store.getState("big", ctx);
      if (!got) throw new Error("the record is gone");
      await store.saveState(withFields(got, { updatedAt: new Date().toISOString() }), ctx);
      await store.unlock("big", lock.lockId, ctx);
    };
    const floor = () => {
      const decoded = stateFromProto(fromBinary(IaCStateSchema, toBinary(IaCStateSchema, stateToProto(state))));
      if (Object.keys(decoded.outputs).length !== Object.keys(state.outputs).length || decoded.config.path !== state.config.path) throw new Error("round trip lost the record");
    };
    const samples = { floor: [], inProcess: [], plugin: [] };
    // Interleaved, so machine noise and GC touch all three alike.
    for (let i = 0; i < warmup + runs; i++) {
      const f = await timeMs(floor);
      const m = await timeMs(cycle(stores.inProcess));
      const p = await timeMs(cycle(stores.plugin));
      if (i < warmup) continue;
      samples.floor.push(f);
      samples.inProcess.push(m);
      samples.plugin.push(p);
    }
    const s = { floor: spread(samples.floor), inProcess: spread(samples.inProcess), plugin: spread(samples.plugin) };
    return {
      title: "State across the boundary",
      about:
        `One record of ${(jsonBytes / 2 ** 20).toFixed(2)} MiB of outputs JSON (${entries} nested entries; ${(wireBytes / 2 ** 20).toFixed(2)} MiB as an IaCState message), ` +
        `in the bench process after ${warmup} warm-up rounds.`,
      rows: [
        { what: "floor: stateToProto + toBinary + fromBinary + stateFromProto + reading outputs and config, once", spread: s.floor },
        { what: "cycle Lock → GetState → SaveState → Unlock, in-process (memory store)", spread: s.inProcess },
        { what: "cycle Lock → GetState → SaveState → Unlock, plugin over gRPC (PluginStateStore)", spread: s.plugin },
        { what: "(the plugin's spawn to ready, once, not in the cycles)", spread: spread([spawnMs]) },
      ],
      checks: [
        ratioCheck("cycle(plugin) / floor", s.plugin, s.floor, "<=", 1.3),
        ratioCheck("cycle(plugin) / cycle(in-process)", s.plugin, s.inProcess, "<="),
      ],
      notes: [
        "The floor is one full encode and decode of the record, JSON included. A cycle moves the record across the boundary twice (the GetState reply and the SaveState request) but parses and re-encodes none of its JSON: stateFromProto leaves outputs and config encoded until something reads them, withFields keeps them so, stateToProto passes unread bytes on as they came, and the memory stores on both sides keep records as encoded IaCState bytes. What remains is protobuf framing of ~1 MB of bytes, the HTTP/2 transfer both ways and the lock calls.",
        "The in-process cycle is the same calls on the daemon's memory store, which keeps the encoded record and decodes only what is read.",
      ],
    };
  } finally {
    await supervisor.stopAll();
  }
}
