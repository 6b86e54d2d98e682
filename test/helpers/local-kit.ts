// The local provider's resource types as the provider conformance kit
// exercises them: what to create, update and replace with, and how to delete
// or change each behind the provider's back. Used by the kit's run against
// the shipped provider and by the kit-mutation tests.
import { chmod, rm, writeFile } from "node:fs/promises";
import type { CreatedResource, ResourceFixture } from "../../plugins/conformance/provider.js";

/** Deletes the file or directory behind the provider's back; a missing one is an error (the id must be its path). */
const removePath = ({ providerId }: CreatedResource) => rm(providerId, { recursive: true });

/** Rewrites the file behind the provider's back. */
const rewrite = async ({ providerId, signal }: CreatedResource) => {
  const actual = "changed behind the provider's back\n";
  await writeFile(providerId, actual, { signal });
  return { field: "content", actual };
};

export const localResources: Readonly<Record<string, ResourceFixture>> = {
  "local.file": {
    name: "conf-file",
    create: (name) => ({ path: `${name}.txt`, content: "one\n" }),
    update: (name) => ({ path: `${name}.txt`, content: "two\n", mode: "0600" }),
    replace: (name) => ({ path: `${name}-moved.txt`, content: "two\n", mode: "0600" }),
    outOfBandDelete: removePath,
    outOfBandChange: rewrite,
  },
  "local.sensitive_file": {
    name: "conf-secret",
    create: (name) => ({ path: `${name}.key`, content: "s3cret" }),
    update: (name) => ({ path: `${name}.key`, content: "rotated" }),
    replace: (name) => ({ path: `${name}-moved.key`, content: "rotated" }),
    outOfBandDelete: removePath,
    outOfBandChange: rewrite,
  },
  "local.directory": {
    name: "conf-dir",
    create: (name) => ({ path: name }),
    update: (name) => ({ path: name, mode: "0700", force_destroy: true }),
    replace: (name) => ({ path: `${name}-moved`, mode: "0700" }),
    outOfBandDelete: removePath,
    outOfBandChange: async ({ providerId }) => {
      await chmod(providerId, 0o700);
      return { field: "mode", actual: "0700" };
    },
  },
};
