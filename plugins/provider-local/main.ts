// Entry point of the wfctl-provider-local plugin executable. No top-level
// await: its bundle is CommonJS (launch.ts says why).
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { localProvider } from "./provider.js";

serve({
  name: "local",
  version: WFCTL_VERSION,
  description: "Files and directories on the local machine",
  // Nothing from the host's environment (paths come from the configuration).
  readsEnv: [],
  provider: localProvider,
}).catch((err: unknown) => {
  process.stderr.write(`wfctl-provider-local: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
