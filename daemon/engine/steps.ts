// Running one step of an apply (apply-order.ts): a whole create, update or
// delete (changes.ts), or one half of a replace. Destroy-before-create: the
// old object is deleted (its record removed), then the new one created as
// any create. Create-before-destroy: the old object's record is first moved
// to a deposed name (deposed.ts), the new one is created under the
// resource's name, and, once what depends on it is pointed there, the
// deposed one is deleted. Each write leaves state describing what exists.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { ResourceState } from "../../proto/state-store.js";
import type { ResourceModule } from "../config/model.js";
import type { ApplyStep } from "./apply-order.js";
import {
  type ChangeEnvironment,
  activeRecord,
  callCreate,
  create,
  forgetRecord,
  mayStart,
  mayStartQuietly,
  pendingCreate,
  remove,
  resolvedNow,
  update,
} from "./changes.js";
import { deposedRecord } from "./deposed.js";
import type { PlannedChange } from "./plan-model.js";
import { sameResource } from "./renames.js";

/** What running steps needs: the change environment, and the deposed records of this apply's create-before-destroy replaces. */
export interface StepEnvironment extends ChangeEnvironment {
  /** By resource name: the record its create step deposed, which its delete step deletes. */
  deposed: Map<string, ResourceState>;
}

/**
 * Creates the new object of a create-before-destroy replace of what `prior`
 * records. The old record is deposed first (for a moment both names
 * describe the old object: a plan then removes only the deposed record);
 * then the create's intent is recorded under the resource's name. A create
 * that did not happen puts the old record back; one whose outcome is
 * unknown leaves both (the next plan reads the new one).
 */
async function createBeforeDestroy(env: StepEnvironment, change: PlannedChange, planned: ResourceModule, prior: ResourceState): Promise<void> {
  const resource = await resolvedNow(env, planned);
  const handle = await env.sessions.get(resource.provider);
  const deposed = deposedRecord(prior);
  const pending = pendingCreate(resource, env.ctx);
  const putBack = async () => {
    await env.recorder.note(prior);
    await env.recorder.forget(deposed);
  };
  mayStartQuietly(env, change, "create");
  await env.recorder.intent(deposed);
  try {
    await env.recorder.intent(pending);
    mayStart(env, change, "create", "create");
  } catch (err) {
    await putBack();
    throw err;
  }
  const response = await callCreate(env, handle, resource, pending, putBack);
  const record = activeRecord(resource, response, undefined);
  await env.recorder.result(record, { action: "create", providerId: response.providerId, recordedAs: "a pending record (its create unconfirmed)" });
  if (sameResource(record, prior)) {
    // The provider gave back the old object (updated in place): there is one object, and its record is the resource's.
    await env.recorder.forget(deposed);
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `${change.name} (${change.type}): create_before_destroy: its provider created the replacement with the id of the object it replaces (${prior.providerId}), ` +
        "so two cannot exist at once for this type; the old one was not deleted (state records it with the new configuration). " +
        `Remove create_before_destroy from ${resource.baseName}, or change what identifies it (a field that forces a new one) along with the replace`,
    );
  }
  env.deposed.set(change.name, deposed);
}

/** Runs one step. */
export async function runStep(env: StepEnvironment, step: ApplyStep): Promise<void> {
  const { change } = step;
  const resource = change.resource as ResourceModule;
  const prior = change.prior as ResourceState;
  if (step.part === "create") {
    return change.createBeforeDestroy ? createBeforeDestroy(env, change, resource, prior) : create(env, change, resource, "create");
  }
  if (step.part === "delete") {
    const deposed = change.createBeforeDestroy ? env.deposed.get(change.name) : prior;
    if (!deposed) throw new WfctlError(ErrorCode.INTERNAL, `${change.name}: the old object's record was not deposed before its delete`);
    return remove(env, change, deposed, "delete");
  }
  switch (change.action) {
    case "create":
      return create(env, change, resource);
    case "update":
      return update(env, change, resource, prior);
    case "delete":
      return change.recordOnly ? forgetRecord(env, change, prior) : remove(env, change, prior);
    case "replace":
    case "noop":
      throw new WfctlError(ErrorCode.INTERNAL, `${change.name}: a ${change.action} is not run as one step`);
  }
}
