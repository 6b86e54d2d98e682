// The configuration parser's entry in the daemon's bundle (daemon/bundle.mjs
// builds parse-worker.cjs from it): turns on the compile cache for the
// bundle's chunks, as daemon/launch.ts does for the daemon, then loads
// parse-worker.ts. The first worker starts with the daemon, just ahead of
// the first command of a CI job, and compiling the parser (and its functions,
// as the first configuration is parsed) was most of what that command waited
// for it. It writes its caches a few seconds after it starts, once it has
// parsed that configuration, under names of its own ("parser"): the daemon
// loads some of the same chunks, and its caches lack the parser's functions.
// The next daemon's parser starts from them: a worker's start and first
// parse of 100 resources, about 230 ms without, 165 ms with.
import { launchCached } from "../../proto/compile-cache.js";

launchCached(import.meta.url, () => import("./parse-worker.js"), { failurePrefix: "wfctld's configuration parser could not start: ", writeAfterMs: 5_000, cacheTag: "parser" });
