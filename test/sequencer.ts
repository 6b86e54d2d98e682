// The order test files start in. A file that takes a minute or more on its
// own is started first: started last, it would leave one worker running it
// alone at the end of the run while the others sit idle (on a clean clone
// vitest has no timings of its own to go by). The rest keep vitest's order.
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The longest files, longest first (from `npm test` on a two-core machine). */
const SLOW_FIRST = [
  "test/security/flood.test.ts",
  "test/faults/interrupts.test.ts",
  "test/e2e/quickstart.test.ts",
  "test/e2e/plugin-install.test.ts",
  "test/integration/state-s3.test.ts",
  "test/e2e/github-action.test.ts",
  "test/e2e/plugin-boundary.test.ts",
  "test/faults/state-store.test.ts",
  "test/integration/state-gcs.test.ts",
  "test/integration/daemon-socket.test.ts",
  "test/e2e/sdk-package.test.ts",
  "test/faults/kills.test.ts",
  "test/faults/locks.test.ts",
  "test/e2e/large-response.test.ts",
  "test/faults/postgres-connection.test.ts",
  "test/e2e/object-store-state.test.ts",
  "test/unit/lint.test.ts",
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const at = SLOW_FIRST.findIndex((slow) => file.moduleId.endsWith(slow));
      return at === -1 ? SLOW_FIRST.length : at;
    };
    // Array.prototype.sort is stable: files of one rank keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
