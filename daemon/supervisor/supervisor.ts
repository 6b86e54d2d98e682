// PluginSupervisor: owns every plugin process of a daemon. It starts one
// instance per distinct configuration on first use, shares it between
// concurrent requests, lists them for operators, and stops them all.
import type { Logger } from "pino";
import type { PluginCatalog, PluginKind, PluginSpec } from "./catalog.js";
import { type InstanceOptions, PluginInstance } from "./instance.js";

/** A plugin as operators see it in `wfctl plugins list`. */
export interface PluginView {
  spec: PluginSpec;
  instance: PluginInstance | undefined;
}

export class PluginSupervisor {
  /** Started (or starting, or failed) instances by kind/name/key. */
  private readonly instances = new Map<string, PluginInstance>();
  private readonly starting = new Map<string, Promise<PluginInstance>>();
  private closed = false;

  constructor(
    readonly catalog: PluginCatalog,
    private readonly logger: Logger,
    private readonly options: InstanceOptions = {},
  ) {}

  /**
   * The running instance of plugin `name` for configuration `key`, started if
   * needed; `setup` (Configure) runs once, right after the instance starts.
   */
  async acquire(kind: PluginKind, name: string, key: string, setup: (instance: PluginInstance) => Promise<void>): Promise<PluginInstance> {
    const id = `${kind}/${name}/${key}`;
    const current = this.instances.get(id);
    if (current?.alive) return current;
    const pending = this.starting.get(id);
    if (pending) return pending;
    if (this.closed) throw new Error("the plugin supervisor is shut down");
    const spec = this.catalog.get(kind, name);
    const start = (async () => {
      const instance = new PluginInstance(spec, key, this.logger.child({ plugin: name, key: key.slice(0, 12) }), this.options);
      this.instances.set(id, instance);
      await instance.start();
      try {
        await setup(instance);
      } catch (err) {
        instance.lastError = (err as Error).message;
        await instance.stop();
        instance.state = "failed";
        throw err;
      }
      return instance;
    })();
    this.starting.set(id, start);
    try {
      return await start;
    } finally {
      this.starting.delete(id);
    }
  }

  /** Every catalog entry with its instances (an entry with none is listed once, not started). */
  list(): PluginView[] {
    const views: PluginView[] = [];
    for (const spec of this.catalog.list()) {
      const own = [...this.instances.values()].filter((i) => i.spec.kind === spec.kind && i.spec.name === spec.name);
      if (own.length === 0) views.push({ spec, instance: undefined });
      for (const instance of own) views.push({ spec, instance });
    }
    return views;
  }

  runningCount(): number {
    return [...this.instances.values()].filter((i) => i.alive).length;
  }

  /** Stops every plugin process; resolves when all have exited. */
  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.starting.values()]);
    await Promise.all([...this.instances.values()].map((i) => i.stop()));
  }
}
