// azure.container: a blob container of the configured storage account, with
// its public access level and metadata, both changed in place. Deleting
// refuses a container that still holds blobs unless force_destroy is set.
import { setTimeout as sleep } from "node:timers/promises";
import type { ContainerClient } from "@azure/storage-blob";
import {
  type AppliedResource,
  type CallContext,
  ErrorCode,
  type JsonObject,
  type PriorResource,
  type ReadResult,
  type ResourceType,
  WfctlError,
  planFromSchema,
} from "../sdk/index.js";
import type { AzureAccount } from "./account.js";
import { type ContainerSpec, type PublicAccess, containerSpec, sameMetadata, spelledAs } from "./container-config.js";
import { type ContainerTarget, containerError, isServiceError, onContainer } from "./errors.js";

const TYPE = "azure.container";
/** How long a create waits for Azure to finish deleting an earlier container of the same name. */
const BEING_DELETED_WAIT_MS = 120_000;
/** Blob names a refused delete shows. */
const SHOWN_BLOBS = 5;

const describe = (name: string) => `${name} (${TYPE})`;

/** The container's address, also its provider id: the account endpoint and the name, never a credential. */
const urlOf = (account: AzureAccount, name: string) => `${account.accountUrl}/${name}`;

function targetOf(account: AzureAccount, resource: string, container: string): ContainerTarget {
  return { what: describe(resource), container, accountUrl: account.accountUrl, secrets: account.secrets };
}

/**
 * The container a recorded resource is, from its provider id. An id of
 * another account is refused: read there, the container would look deleted,
 * and the daemon would prune it from state.
 */
function recordedContainer(prior: PriorResource, account: AzureAccount, resource: string): string {
  // No id: a create whose outcome was never learned; the container is named by its configuration.
  if (prior.providerId === "" && typeof prior.config["name"] === "string") return prior.config["name"];
  // Imported by its name alone (`wfctl infra import NAME CONTAINER`): a container of the configured account.
  if (Object.keys(prior.config).length === 0 && /^[a-z0-9-]+$/.test(prior.providerId)) return prior.providerId;
  const base = `${account.accountUrl}/`;
  const name = prior.providerId.startsWith(base) ? prior.providerId.slice(base.length) : "";
  if (name === "" || name.includes("/")) {
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `${describe(resource)}: recorded as ${prior.providerId}, which is not a container of the configured account ${account.accountUrl}; ` +
        "configure the provider for the account it was created in",
    );
  }
  return name;
}

/** Which version of the container's properties an answer reports. */
type Version = { etag?: string | undefined; lastModified?: Date | undefined };

/** What a create or update returns: the id and the computed outputs. */
function applied(account: AzureAccount, name: string, version: Version): AppliedResource {
  return { providerId: urlOf(account, name), outputs: outputsOf(account, name, version) };
}

function outputsOf(account: AzureAccount, name: string, version: Version): JsonObject {
  return { name, url: urlOf(account, name), etag: version.etag ?? "", last_modified: version.lastModified?.toISOString() ?? "" };
}

/** Creates the container, waiting (within the call's deadline) while Azure still deletes an earlier one of that name. */
async function createContainer(client: ContainerClient, spec: ContainerSpec, target: ContainerTarget, signal: AbortSignal) {
  const giveUp = Date.now() + BEING_DELETED_WAIT_MS;
  for (;;) {
    try {
      return await client.create({ abortSignal: signal, metadata: spec.metadata, ...(spec.publicAccess === "none" ? {} : { access: spec.publicAccess }) });
    } catch (err) {
      if (!isServiceError(err, 409, "ContainerBeingDeleted") || Date.now() > giveUp) throw containerError(err, target, "creating", signal);
      await onContainer(target, "waiting to create", signal, () => sleep(2_000, undefined, { signal }));
    }
  }
}

/**
 * Sets the public access level. Azure sets it together with the stored access
 * policies, so the current ones are read and sent back unchanged; the write is
 * conditional on the container not changing in between.
 */
async function setPublicAccess(client: ContainerClient, access: PublicAccess, target: ContainerTarget, signal: AbortSignal) {
  for (let attempt = 1; ; attempt++) {
    const current = await onContainer(target, "reading the access policy of", signal, () => client.getAccessPolicy({ abortSignal: signal }));
    try {
      return await client.setAccessPolicy(access === "none" ? undefined : access, current.signedIdentifiers, {
        abortSignal: signal,
        conditions: { ifUnmodifiedSince: current.lastModified },
      });
    } catch (err) {
      // Changed meanwhile (412): read the policies again.
      if (attempt >= 3 || !isServiceError(err, 412)) throw containerError(err, target, "setting the public access of", signal);
    }
  }
}

/** Makes the container what `spec` says, changing only what differs from what it is now. */
async function reconcile(account: AzureAccount, resource: string, spec: ContainerSpec, signal: AbortSignal): Promise<AppliedResource> {
  const target = targetOf(account, resource, spec.name);
  const client = account.service.getContainerClient(spec.name);
  const current = await onContainer(target, "reading", signal, () => client.getProperties({ abortSignal: signal }));
  let version: Version = current;
  if ((current.blobPublicAccess ?? "none") !== spec.publicAccess) version = await setPublicAccess(client, spec.publicAccess, target, signal);
  if (!sameMetadata(current.metadata ?? {}, spec.metadata)) {
    version = await onContainer(target, "setting the metadata of", signal, () => client.setMetadata(spec.metadata, { abortSignal: signal }));
  }
  return applied(account, spec.name, version);
}

/** Refuses to delete a container holding blobs; true when the container is already gone. */
async function refuseIfNotEmpty(client: ContainerClient, target: ContainerTarget, signal: AbortSignal): Promise<boolean> {
  let names: string[];
  try {
    const page = await client.listBlobsFlat({ abortSignal: signal }).byPage({ maxPageSize: SHOWN_BLOBS + 1 }).next();
    names = page.done ? [] : page.value.segment.blobItems.map((blob) => blob.name);
  } catch (err) {
    if (isServiceError(err, 404, "ContainerNotFound") && !signal.aborted) return true;
    throw containerError(err, target, "listing the blobs of", signal);
  }
  if (names.length === 0) return false;
  const shown = names.slice(0, SHOWN_BLOBS).join(", ") + (names.length > SHOWN_BLOBS ? ", …" : "");
  throw new WfctlError(
    ErrorCode.FAILED_PRECONDITION,
    `${target.what}: container "${target.container}" in ${target.accountUrl} is not empty (${shown}); ` +
      "delete those blobs, or set force_destroy: true to delete the container with everything in it",
  );
}

export const containerResource: ResourceType<AzureAccount> = {
  description: "A blob container of the provider's storage account, with its public access level and metadata.",
  fields: {
    name: { type: "string", required: true, forceNew: true, description: "Container name: 3-63 lower-case letters, digits and single hyphens." },
    public_access: {
      type: "string",
      default: "none",
      description: 'Anonymous read access: "none", "blob" (blobs by URL) or "container" (blobs and listing). Changed in place; stored access policies are kept.',
    },
    metadata: { type: "map", default: {}, description: "Name → value; names are C# identifiers (compared without case), values printable ASCII. Changed in place." },
    force_destroy: { type: "bool", default: false, description: "Delete the container even if it holds blobs (and the blobs with it)." },
    url: { type: "string", computed: true, description: "The container's URL (no credential)." },
    etag: { type: "string", computed: true, description: "ETag of the container's properties after the last change." },
    last_modified: { type: "string", computed: true, description: "When the container's properties last changed (ISO 8601)." },
  },

  async plan({ resource, config, prior }) {
    containerSpec(config, describe(resource.name));
    return planFromSchema(config, prior, containerResource.fields);
  },

  async create({ resource, config, provider }, ctx: CallContext) {
    const spec = containerSpec(config, describe(resource.name));
    ctx.signal.throwIfAborted();
    const created = await createContainer(provider.service.getContainerClient(spec.name), spec, targetOf(provider, resource.name, spec.name), ctx.signal);
    return applied(provider, spec.name, created);
  },

  async update({ resource, config, prior, provider }, ctx) {
    const spec = containerSpec(config, describe(resource.name));
    if (recordedContainer(prior, provider, resource.name) !== spec.name) {
      throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${describe(resource.name)}: a new name replaces the container; it cannot be updated in place`);
    }
    return reconcile(provider, resource.name, spec, ctx.signal);
  },

  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    const name = recordedContainer(prior, provider, resource.name);
    const target = targetOf(provider, resource.name, name);
    let properties;
    try {
      properties = await provider.service.getContainerClient(name).getProperties({ abortSignal: ctx.signal });
    } catch (err) {
      if (isServiceError(err, 404, "ContainerNotFound") && !ctx.signal.aborted) return { found: false };
      throw containerError(err, target, "reading", ctx.signal);
    }
    return {
      found: true,
      providerId: urlOf(provider, name),
      config: {
        name,
        public_access: properties.blobPublicAccess ?? "none",
        metadata: spelledAs(properties.metadata ?? {}, prior.config["metadata"]),
        force_destroy: prior.config["force_destroy"] ?? false,
      },
      outputs: outputsOf(provider, name, properties),
    };
  },

  async delete({ resource, prior, provider }, ctx) {
    const name = recordedContainer(prior, provider, resource.name);
    const target = targetOf(provider, resource.name, name);
    const client = provider.service.getContainerClient(name);
    ctx.signal.throwIfAborted();
    if (prior.config["force_destroy"] !== true && (await refuseIfNotEmpty(client, target, ctx.signal))) return;
    await onContainer(target, "deleting", ctx.signal, () => client.deleteIfExists({ abortSignal: ctx.signal }));
  },
};
