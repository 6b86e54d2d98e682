// The gRPC half of the plugin boundary (grpc-js, what it loads, and wfctl's
// bindings in proto/grpc.ts) is about a third of the daemon's code. A daemon
// needs none of it to listen on its socket, so it is loaded with the first
// plugin the daemon starts, not at the daemon's start: the first command of a
// CI job waits for the socket, then for a plugin anyway.
export type PluginGrpc = typeof import("../../proto/grpc.js");

let loading: Promise<PluginGrpc> | undefined;

/** proto/grpc.ts, loaded once. */
export function pluginGrpc(): Promise<PluginGrpc> {
  return (loading ??= import("../../proto/grpc.js"));
}
