// Operator inspection over the socket: one plugin in detail, and its log
// lines (recent, then followed across restarts until the client goes away).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { PluginDetailSchema, PluginLogLineSchema } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { Engine } from "../engine/engine.js";
import type { LogEntry } from "../supervisor/logs.js";
import { sha256File } from "../supervisor/checksum.js";
import type { PluginInstance } from "../supervisor/instance.js";
import type { PluginSlot, PluginView } from "../supervisor/supervisor.js";
import { pluginMessage } from "./convert.js";

function viewsOf(engine: Engine, name: string): PluginView[] {
  const views = engine.supervisor.list().filter((v) => v.spec.name === name);
  if (views.length === 0) {
    const known = [...new Set(engine.supervisor.list().map((v) => v.spec.name))];
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `no plugin named "${name}" (known: ${known.join(", ") || "none"})`);
  }
  return views;
}

export async function inspectPlugin(engine: Engine, name: string): Promise<MessageInitShape<typeof PluginDetailSchema>[]> {
  return Promise.all(
    viewsOf(engine, name).map(async (view) => {
      const instance = view.slot?.instance;
      let resourceTypes: MessageInitShape<typeof PluginDetailSchema>["resourceTypes"] = [];
      if (instance?.alive && instance.serves(IaCProvider)) {
        const schema = await instance.client(IaCProvider).getSchema({}, { deadline: new Date(Date.now() + 5_000) });
        resourceTypes = schema.resourceTypes.map((t) => ({ type: t.type, description: t.description, fields: t.fields.map((f) => f.name) }));
      }
      const pin = view.spec.pinned;
      // A built-in plugin run with node is its script (the bundle), else its executable.
      const file = view.spec.executable === process.execPath ? (view.spec.args[0] ?? view.spec.executable) : view.spec.executable;
      return {
        status: pluginMessage(view),
        services: instance?.info?.services ?? [],
        resourceTypes,
        stateBackends: instance?.info?.stateBackends ?? [],
        checksum: pin?.checksum ?? (await sha256File(file).then((hex) => `sha256:${hex}`).catch(() => "")),
        lockfile: pin?.lockfile ?? "",
        args: [...view.spec.args],
      };
    }),
  );
}

function line(slot: PluginSlot, instance: PluginInstance | undefined, entry: LogEntry): MessageInitShape<typeof PluginLogLineSchema> {
  return {
    plugin: slot.spec.name,
    pid: instance?.pid ?? 0,
    instance: slot.key.slice(0, 12),
    time: entry.time.toISOString(),
    source: entry.source,
    line: entry.line,
  };
}

export async function* pluginLogs(
  engine: Engine,
  name: string,
  tail: number,
  follow: boolean,
  signal: AbortSignal,
): AsyncGenerator<MessageInitShape<typeof PluginLogLineSchema>> {
  const slots = viewsOf(engine, name).flatMap((v) => (v.slot ? [v.slot] : []));
  const queue: MessageInitShape<typeof PluginLogLineSchema>[] = [];
  let wake: (() => void) | undefined;
  const stops = follow
    ? slots.map((slot) =>
        slot.onLog((entry, instance) => {
          queue.push(line(slot, instance, entry));
          wake?.();
        }),
      )
    : [];
  try {
    const recent = slots
      .flatMap((slot) => {
        const { entries, instance } = slot.recentEntries(tail);
        return entries.map((entry) => ({ at: entry.time.getTime(), message: line(slot, instance, entry) }));
      })
      .sort((a, b) => a.at - b.at)
      .slice(-tail);
    for (const r of recent) yield r.message;
    if (!follow) return;
    while (!signal.aborted) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        wake = undefined;
      }
      while (queue.length > 0) yield queue.shift() as MessageInitShape<typeof PluginLogLineSchema>;
    }
  } finally {
    for (const stop of stops) stop();
  }
}
