// Engine results as wfctl.daemon.v1 messages. Sensitive values are masked
// here, before anything leaves the daemon.
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Action,
  type AuditEntrySchema,
  DriftClass,
  type DriftResultSchema,
  type HeldLockSchema,
  type OperationEventSchema,
  type OutputValueSchema,
  type PlanSchema,
  type PluginStatusSchema,
  Outcome,
  ResourcePhase,
  type ResourceResultSchema,
  type StateResourceSchema,
  type UnrecordedChangeSchema,
} from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import type { JsonValue } from "../../proto/json.js";
import { lockToProto } from "../../proto/lock-info.js";
import { REDACTED, redact } from "../../proto/redact.js";
import type { ResourceState } from "../../proto/state-store.js";
import type { ResourceOutcome } from "../engine/apply.js";
import type { UnrecordedChange } from "../engine/recorder.js";
import { type ChangeAction, type Plan, summarize } from "../engine/plan.js";
import type { PluginView } from "../supervisor/supervisor.js";
import { notInstalled } from "../supervisor/catalog.js";
import type { StateLocation } from "../state/open.js";
import type { DriftClassName, DriftFinding } from "../engine/drift.js";
import type { AuditEntry, RefreshUpdate } from "../engine/refresh.js";
import type { OutputResult } from "../engine/outputs.js";
import type { HeldLock } from "../engine/state-locks.js";
import type { ResourcePhase as PhaseName, StampedEvent } from "../engine/events.js";

const actions: Record<ChangeAction, Action> = {
  noop: Action.NOOP,
  create: Action.CREATE,
  update: Action.UPDATE,
  replace: Action.REPLACE,
  delete: Action.DELETE,
};

function jsonText(value: JsonValue | undefined, sensitive: boolean): string {
  if (value === undefined) return "";
  return JSON.stringify(sensitive ? REDACTED : redact(value));
}

/** An unchanged resource no text view shows: no move, ghost, recorded note, reason or field. */
function nothingToShow(change: Plan["changes"][number]): boolean {
  return change.action === "noop" && !change.movedFrom && !change.ghost && !change.recorded && !change.reason && change.fields.length === 0;
}

/**
 * A plan as a message; `where` says where the state it was planned against
 * lives. `omitUnchanged` (PlanRequest.omit_unchanged) leaves out the changes
 * nothing shows; the summary and fingerprint still cover every resource.
 */
export function planMessage(plan: Plan, where: StateLocation, omitUnchanged = false): MessageInitShape<typeof PlanSchema> {
  const changes = omitUnchanged ? plan.changes.filter((c) => !nothingToShow(c)) : plan.changes;
  return {
    changes: changes.map((c) => ({
      name: c.name,
      type: c.type,
      provider: c.provider,
      action: actions[c.action],
      dependsOn: c.dependsOn,
      protected: c.protected,
      ghost: c.ghost,
      recordedStatus: c.recorded?.status ?? "",
      recordedNote: c.recorded?.note ?? "",
      movedFrom: c.movedFrom ?? "",
      reason: c.reason ?? "",
      createBeforeDestroy: c.createBeforeDestroy ?? false,
      fields: c.fields.map((f) => ({
        field: f.field,
        beforeJson: jsonText(f.before, f.sensitive),
        afterJson: jsonText(f.after, f.sensitive),
        forcesReplace: f.forcesReplace,
        sensitive: f.sensitive,
      })),
    })),
    summary: summarize(plan),
    fingerprint: plan.fingerprint,
    env: plan.env,
    destroy: plan.destroy,
    backend: where.backend,
    namespace: where.namespace,
    targets: plan.targets,
    warnings: plan.warnings,
  };
}

const outcomes = { succeeded: Outcome.SUCCEEDED, failed: Outcome.FAILED, skipped: Outcome.SKIPPED } as const;

export function resultMessage(outcome: ResourceOutcome): MessageInitShape<typeof ResourceResultSchema> {
  return {
    name: outcome.name,
    type: outcome.type,
    action: actions[outcome.action],
    outcome: outcomes[outcome.outcome],
    error: outcome.error?.message ?? "",
    errorCode: outcome.error?.code ?? "",
    elapsedMs: outcome.elapsedMs,
    skippedReason: outcome.skippedReason,
  };
}

export function unrecordedMessage(change: UnrecordedChange): MessageInitShape<typeof UnrecordedChangeSchema> {
  return { ...change };
}

export function stateMessage(state: ResourceState): MessageInitShape<typeof StateResourceSchema> {
  return {
    name: state.resourceId,
    type: state.resourceType,
    provider: state.provider,
    providerId: state.providerId,
    status: state.status,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    protected: state.protected,
    dependsOn: state.dependsOn,
    outputsJson: JSON.stringify(redact(state.outputs)),
  };
}

export function pluginMessage(view: PluginView): MessageInitShape<typeof PluginStatusSchema> {
  const { spec, slot } = view;
  const instance = slot?.instance;
  return {
    name: spec.name,
    kind: spec.kind,
    executable: spec.executable,
    version: instance?.info?.version ?? "",
    pid: instance?.alive ? (instance.pid ?? 0) : 0,
    state: slot ? slot.state : notInstalled(spec) ? "not_installed" : "not_started",
    address: instance?.alive ? instance.address : "",
    startedAt: instance?.startedAt.toISOString() ?? "",
    restarts: slot?.restarts ?? 0,
    protocolVersion: instance?.info?.protocolVersion ?? 0,
    instanceKey: slot?.key.slice(0, 12) ?? "",
    recentLogs: slot?.recentLogs(20) ?? [],
    lastError: slot?.lastError || instance?.lastError || "",
    healthy: (instance?.alive ?? false) && (instance?.healthy ?? false),
    uptimeSeconds: instance?.alive ? instance.uptimeMs / 1000 : 0,
    source: spec.source,
    package: spec.source === "builtin" ? (spec.installable ?? "") : "",
  };
}

const driftClasses: Record<DriftClassName, DriftClass> = {
  unknown: DriftClass.UNKNOWN,
  "in-sync": DriftClass.IN_SYNC,
  ghost: DriftClass.GHOST,
  config: DriftClass.CONFIG,
};

/** A drift finding; `fields` replaces what detection found (refresh reports what it changes). */
export function driftMessage(
  finding: DriftFinding,
  fields: readonly { field: string; expected: JsonValue | undefined; actual: JsonValue | undefined; sensitive: boolean }[] = finding.fields,
): MessageInitShape<typeof DriftResultSchema> {
  return {
    name: finding.name,
    type: finding.type,
    provider: finding.provider,
    class: driftClasses[finding.class],
    drifted: finding.drifted,
    protected: finding.protected,
    status: finding.record.status,
    fields: fields.map((f) => ({
      field: f.field,
      expectedJson: jsonText(f.expected, f.sensitive),
      actualJson: jsonText(f.actual, f.sensitive),
      sensitive: f.sensitive,
    })),
  };
}

export function auditMessage(entry: AuditEntry): MessageInitShape<typeof AuditEntrySchema> {
  return { ...entry };
}

/** A held state lock, as `state locks` lists it. */
export function heldLockMessage(held: HeldLock): MessageInitShape<typeof HeldLockSchema> {
  return {
    ...lockToProto(held.lock),
    liveness: held.liveness,
    unlockCommand: held.unlockCommand,
  };
}

/** A record refresh rewrote (or would), with what changed: recorded (expected) and read (actual). */
export function updateMessage(update: RefreshUpdate): MessageInitShape<typeof DriftResultSchema> {
  return driftMessage(
    update.finding,
    update.fields.map((f) => ({ field: f.field, expected: f.before, actual: f.after, sensitive: f.sensitive })),
  );
}

/** An output; a sensitive value is sent only when the caller asked for it. */
export function outputMessage(output: OutputResult, reveal: boolean): MessageInitShape<typeof OutputValueSchema> {
  return {
    name: output.name,
    source: output.source,
    description: output.description,
    sensitive: output.sensitive,
    valueJson: output.sensitive && !reveal ? "" : JSON.stringify(output.value),
    sinks: output.sinks.map((s) => ({
      type: s.type,
      name: s.name,
      repository: s.repository,
      environment: s.environment,
      tokenEnv: s.tokenEnv,
      apiUrl: s.apiUrl,
      onApply: s.onApply,
      location: s.location,
    })),
  };
}

const phases: Record<PhaseName, ResourcePhase> = {
  planned: ResourcePhase.PLANNED,
  started: ResourcePhase.STARTED,
  finished: ResourcePhase.FINISHED,
  failed: ResourcePhase.FAILED,
  skipped: ResourcePhase.SKIPPED,
};

export function eventMessage(stamped: StampedEvent): MessageInitShape<typeof OperationEventSchema> {
  const { event } = stamped;
  const head = { operationId: stamped.operationId, sequence: stamped.sequence, time: stamped.time.toISOString(), elapsedMs: BigInt(stamped.elapsedMs) };
  switch (event.kind) {
    case "started":
      return { ...head, event: { case: "started", value: { operation: event.operation, target: { configPath: event.target.configPath, env: event.target.env }, caller: event.caller } } };
    case "resource":
      return {
        ...head,
        event: {
          case: "resource",
          value: {
            phase: phases[event.phase],
            name: event.name,
            type: event.type,
            action: event.action,
            durationMs: BigInt(event.durationMs ?? 0),
            errorCode: event.errorCode ?? "",
            message: event.message ?? "",
          },
        },
      };
    case "plan":
      return { ...head, event: { case: "plan", value: planMessage(event.plan, event.where) } };
    case "summary": {
      const { kind: _kind, ...summary } = event;
      return { ...head, event: { case: "summary", value: summary } };
    }
  }
}
