// The order of an apply's steps as pure logic: a replace deletes the old
// object after what depends on it and goes too, then creates the new one
// before what depends on it; create_before_destroy turns that around (and
// spreads to the replaced resources it depends on); the old object of an
// unfinished create_before_destroy replace (a deposed record) goes once
// what depends on its resource is changed; what cannot be ordered is refused.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import type { ResourceState } from "../../proto/state-store.js";
import type { ResourceModule } from "../../daemon/config/model.js";
import { type ApplyStep, applySteps } from "../../daemon/engine/apply-order.js";
import { withCreateBeforeDestroy } from "../../daemon/engine/create-before-destroy.js";
import { deposedDelete, deposedFrom, deposedName, resourceNameOf } from "../../daemon/engine/deposed.js";
import { reachable } from "../../daemon/engine/graph.js";
import type { ChangeAction, PlannedChange } from "../../daemon/engine/plan-model.js";

function record(name: string, dependsOn: string[]): ResourceState {
  return { resourceId: name, resourceType: "t.x", provider: "p", status: "active", outputs: {}, config: {}, createdAt: "", updatedAt: "", error: "", providerId: `id-${name}`, protected: false, dependsOn };
}

/** A planned change: `dependsOn` as configured, `recorded` as its record says (no record for a create). */
function change(name: string, action: ChangeAction, dependsOn: string[] = [], options: { recorded?: string[]; cbd?: boolean } = {}): PlannedChange {
  const resource = { name, baseName: name, index: 0, type: "t.x", provider: "p", config: {}, dependsOn, references: [], protected: false, createBeforeDestroy: options.cbd ?? false, sensitiveFields: [] } satisfies ResourceModule;
  return {
    name,
    type: "t.x",
    provider: "p",
    action,
    fields: [],
    dependsOn: action === "delete" ? (options.recorded ?? dependsOn) : dependsOn,
    protected: false,
    resource: action === "delete" ? undefined : resource,
    prior: action === "create" ? undefined : record(name, options.recorded ?? dependsOn),
    ghost: false,
    refreshed: undefined,
    recordOnly: false,
    recorded: undefined,
    sensitiveFields: [],
  };
}

/** Whether step `first` must have succeeded before step `then` starts (through what each waits for). */
function before(steps: readonly ApplyStep[], first: string, then: string): boolean {
  const byId = new Map(steps.map((s) => [s.id, s]));
  expect(byId.has(first), `${first} in ${[...byId.keys()].join(", ")}`).toBe(true);
  expect(byId.has(then), `${then} in ${[...byId.keys()].join(", ")}`).toBe(true);
  return reachable([then], (id) => byId.get(id)?.after ?? []).has(first) && first !== then;
}

/** Asserts the steps come in exactly this order, each before the next. */
function expectChain(steps: readonly ApplyStep[], chain: readonly string[]): void {
  for (let i = 1; i < chain.length; i++) expect(before(steps, chain[i - 1] as string, chain[i] as string), `${chain[i - 1]} before ${chain[i]}`).toBe(true);
}

describe("apply order", () => {
  it("a replace: what depends on it and is replaced goes first; the new one comes before what depends on it", () => {
    const steps = applySteps([change("dir", "replace"), change("file", "replace", ["dir"]), change("note", "update", ["dir"])]);
    expectChain(steps, ["file (delete)", "dir (delete)", "dir (create)", "file (create)"]);
    expect(before(steps, "dir (create)", "note")).toBe(true);
    // An update of a dependent is no reason to wait before the delete.
    expect(before(steps, "note", "dir (delete)")).toBe(false);
    expect(steps.filter((s) => s.last).map((s) => s.id).sort()).toEqual(["dir (create)", "file (create)", "note"]);
  });

  it("a delete of a record no longer configured waits for the deletes of what it held, replaces included", () => {
    const steps = applySteps([change("dir", "delete"), change("file", "replace", [], { recorded: ["dir"] })]);
    expect(before(steps, "file (delete)", "dir")).toBe(true);
    expect(before(steps, "dir", "file (create)")).toBe(false);
  });

  it("create_before_destroy: the new one first, then what depends on it, and the old one last", () => {
    const steps = applySteps(withCreateBeforeDestroy([change("dir", "replace", [], { cbd: true }), change("file", "replace", ["dir"]), change("note", "update", ["dir"])]));
    expectChain(steps, ["dir (create)", "file (create)", "dir (delete)"]);
    expect(before(steps, "note", "dir (delete)")).toBe(true);
    expect(before(steps, "file (delete)", "dir (delete)")).toBe(true);
    expect(steps.find((s) => s.id === "dir (delete)")?.last).toBe(true);
  });

  it("create_before_destroy spreads to the replaced resources it depends on, which say why", () => {
    const changes = withCreateBeforeDestroy([change("db", "replace"), change("app", "replace", ["db"], { cbd: true }), change("other", "replace")]);
    const db = changes.find((c) => c.name === "db");
    expect(db?.createBeforeDestroy).toBe(true);
    expect(db?.reason).toBe("created before destroyed: app depends on it and has create_before_destroy");
    expect(changes.find((c) => c.name === "other")?.createBeforeDestroy).toBeUndefined();
    const steps = applySteps(changes);
    expectChain(steps, ["db (create)", "app (create)", "app (delete)", "db (delete)"]);
  });

  it("the deposed record an interrupted apply left is deleted after what depends on its resource is changed", () => {
    const old = deposedName("dir");
    expect(deposedFrom(old)).toBe("dir");
    expect(resourceNameOf(old)).toBe("dir");
    expect(deposedFrom("dir")).toBeUndefined();
    expect(deposedFrom("dir~deposed-xyz")).toBeUndefined();
    const steps = applySteps([change(old, "delete"), change("file", "update", ["dir"]), change("gone", "delete", [], { recorded: ["dir"] })]);
    expect(before(steps, "file", old)).toBe(true);
    expect(before(steps, "gone", old)).toBe(true);
  });

  it("a deposed record that describes the object its resource's record does is removed alone; another is deleted, saying why", () => {
    const old = deposedName("dir");
    const live = change("dir", "noop");
    const same = deposedDelete({ ...change(old, "delete"), prior: { ...record(old, []), providerId: "id-dir" } }, [live]);
    expect(same).toMatchObject({ recordOnly: true, reason: expect.stringContaining("it is the object dir is now (same id id-dir): only this record is removed") });
    const other = deposedDelete(change(old, "delete"), [live]);
    expect(other).toMatchObject({ recordOnly: false, reason: "deposed from dir by a create_before_destroy replace that did not finish: the old object is deleted now" });
    // A record that is not deposed is left as planned.
    expect(deposedDelete(change("gone", "delete"), [live]).reason).toBeUndefined();
  });

  it("changes that wait on each other are refused before anything runs, naming the cycle", () => {
    let error: { code?: string; message?: string } = {};
    try {
      applySteps([change("a", "delete", [], { recorded: ["b"] }), change("b", "delete", [], { recorded: ["a"] })]);
    } catch (err) {
      error = err as typeof error;
    }
    expect(error.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(error.message).toMatch(/the changes cannot be ordered: (a → b → a|b → a → b) wait on each other; nothing was changed/);
  });
});
