// Entry point of the wfctl-provider-local plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { localProvider } from "./provider.js";

await serve({
  name: "local",
  version: WFCTL_VERSION,
  description: "Files and directories on the local machine",
  // Nothing from the host's environment (paths come from the configuration).
  readsEnv: [],
  provider: localProvider,
});
