// What the state-backend kit's checks share: the check type, a caller that
// has not given up, and sample records.
import type { JsonObject } from "../../proto/json.js";
import type { ResourceState, StateStore, StoreContext } from "../../proto/state-store.js";

/** One conformance check. */
export interface ConformanceCheck {
  name: string;
  run(open: () => Promise<StateStore>): Promise<void>;
}

/** A caller that has not given up. */
export const live = (): StoreContext => ({ signal: new AbortController().signal });

/** A realistic record; `overrides` replace fields. */
export function sampleState(id: string, overrides: Partial<ResourceState> = {}): ResourceState {
  return {
    resourceId: id,
    resourceType: "local.file",
    provider: "local",
    status: "active",
    outputs: { size: 3, nested: { list: [1, "two", null, true], big: 9007199254740991, small: -0.5 }, text: "naïve ✓ \u0000\n\"quoted\"" },
    config: { path: `${id}.txt`, content: "abc" },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-02T00:00:00.000Z",
    error: "",
    providerId: `/root/${id}.txt`,
    protected: false,
    dependsOn: [],
    ...overrides,
  };
}

/** About `bytes` of JSON in thousands of nested entries. */
export function largeOutputs(bytes: number): JsonObject {
  const groups: JsonObject = {};
  let size = 0;
  for (let g = 0; size < bytes; g++) {
    const entries: JsonObject = {};
    for (let e = 0; e < 50; e++) {
      const value = { id: `g${g}-e${e}`, weight: (g * 50 + e) / 7, tags: ["alpha", "beta", String(e)], on: e % 2 === 0 };
      entries[`entry_${e}`] = value;
      size += JSON.stringify(value).length + 12;
    }
    groups[`group_${g}`] = entries;
  }
  return groups;
}
