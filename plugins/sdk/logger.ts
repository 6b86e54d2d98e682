// Plugin logs: JSON lines on stderr, which the host captures, keeps and shows
// to operators. Written synchronously so nothing is lost when the plugin exits.
import pino from "pino";

/** Structured logger handed to plugin code. Never log request bodies or secrets. */
export type PluginLogger = pino.Logger;

export function createPluginLogger(plugin: string, version: string): PluginLogger {
  return pino(
    {
      level: process.env["WFCTL_PLUGIN_LOG_LEVEL"] ?? "info",
      base: { plugin, version, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
