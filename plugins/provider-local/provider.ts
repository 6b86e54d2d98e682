// The local provider: manages real files and directories under a root
// directory. It exists to prove every layer of wfctl on any machine, and is
// the provider of the quickstart.
import { mkdir, realpath } from "node:fs/promises";
import { resolve } from "node:path";
import { defineProvider } from "../sdk/index.js";
import { directoryResource } from "./directory.js";
import { fileResource, sensitiveFileResource } from "./file.js";
import type { LocalProvider } from "./paths.js";

export type { LocalProvider } from "./paths.js";

export const localProvider = defineProvider<LocalProvider>({
  config: {
    root: {
      type: "string",
      default: ".",
      description: "Directory every resource path is relative to; relative to the configuration file's directory.",
    },
  },
  async configure(config, { workingDir }) {
    const root = resolve(workingDir || process.cwd(), String(config["root"]));
    await mkdir(root, { recursive: true });
    return { root, realRoot: await realpath(root) };
  },
  resources: {
    "local.file": fileResource,
    "local.sensitive_file": sensitiveFileResource,
    "local.directory": directoryResource,
  },
  classifiesDrift: true,
});
