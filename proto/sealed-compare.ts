// The host's half of comparing sensitive values, so that no plugin needs the
// seal format (sealed.ts). The prior a plugin receives holds each value state
// keeps sealed as an opaque seal ({"$wfctl_sealed": "…"}); the plugin compares
// it as any other value, so a seal differs from everything it is compared
// with. The host then takes back what only the seal made differ: it drops
// each FieldChange (Plan) and FieldDrift (DetectDrift) whose recorded side is
// a seal matching the other side, and recomputes what those dropped changes
// decided. Both the daemon's engine and the provider conformance kit apply
// this to every answer, so a plugin is checked as it is run.
import type { DriftResult, FieldChange, FieldDrift, PlanResourceResponse } from "./gen/wfctl/plugin/v1/provider_pb.js";
import { Action, DriftClass } from "./gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, type JsonValue, decodeJsonValue } from "./json.js";
import { isSealed, matchesSealedAsync } from "./sealed.js";

/** The top-level field a dotted change path is under: seals are whole top-level values. */
const topOf = (field: string): string => field.split(".")[0] ?? field;

/** Whether the seal `prior` holds at `top` matches `value`; each top-level field is hashed once per answer. */
function sealMatcher(prior: JsonObject): (top: string, value: () => JsonValue | undefined) => Promise<boolean> {
  const answers = new Map<string, Promise<boolean>>();
  return (top, value) => {
    const sealed = prior[top];
    if (!isSealed(sealed)) return Promise.resolve(false);
    let answer = answers.get(top);
    if (!answer) {
      answer = matchesSealedAsync(value(), sealed);
      answers.set(top, answer);
    }
    return answer;
  };
}

/**
 * A Plan answer with the changes a seal alone made: a change of a field the
 * prior holds sealed, whose desired value is the one sealed, is dropped.
 * When any is dropped, the action follows what is left: nothing left is
 * NOOP; a REPLACE whose forcing changes were all dropped is an UPDATE.
 * `priorConfig` is the prior's configuration as sent (undefined for a
 * create), `desired` the desired configuration as sent.
 */
export async function settlePlanSeals(response: PlanResourceResponse, priorConfig: JsonObject | undefined, desired: JsonObject): Promise<PlanResourceResponse> {
  if (priorConfig === undefined || response.changes.length === 0) return response;
  const matches = sealMatcher(priorConfig);
  const kept: FieldChange[] = [];
  let dropped = 0;
  let droppedForcing = false;
  for (const change of response.changes) {
    const top = topOf(change.field);
    if (await matches(top, () => desired[top])) {
      dropped++;
      droppedForcing ||= change.forcesReplace;
    } else {
      kept.push(change);
    }
  }
  if (dropped === 0) return response;
  let action = response.action;
  if ((action === Action.UPDATE || action === Action.REPLACE) && kept.length === 0) action = Action.NOOP;
  else if (action === Action.REPLACE && droppedForcing && !kept.some((c) => c.forcesReplace)) action = Action.UPDATE;
  return { ...response, action, changes: kept };
}

/**
 * A DetectDrift result without the fields a seal alone made differ: a
 * top-level field the prior holds sealed whose actual value is the one
 * sealed. When any is dropped and none is left, the resource is not
 * drifted (CONFIG becomes IN_SYNC). A nested field (`tags.env`) under a
 * sealed value cannot be judged and is kept: report a sensitive field's
 * drift at its top level, with its whole actual value.
 */
export async function settleDriftSeals(result: DriftResult | undefined, priorConfig: JsonObject): Promise<DriftResult | undefined> {
  if (!result || result.fields.length === 0) return result;
  const matches = sealMatcher(priorConfig);
  const kept: FieldDrift[] = [];
  for (const field of result.fields) {
    const actual = () => decodeJsonValue(field.actualJson, `actual_json of ${field.field}`);
    const sealedMatch = field.field === topOf(field.field) && (await matches(field.field, actual));
    if (!sealedMatch) kept.push(field);
  }
  if (kept.length === result.fields.length) return result;
  if (kept.length > 0) return { ...result, fields: kept };
  return { ...result, fields: kept, drifted: false, class: result.class === DriftClass.CONFIG ? DriftClass.IN_SYNC : result.class };
}
