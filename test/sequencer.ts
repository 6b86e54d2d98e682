// The order test files start in. A file that takes a minute or more on its
// own is started first: started last, it would leave one worker running it
// alone at the end of the run while the others sit idle (on a clean clone
// vitest has no timings of its own to go by). The rest keep vitest's order.
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The two longest files (two minutes each, from `npm test` on a two-core
 * machine). Only these: starting every long file at once (an earlier list of
 * seventeen) made them contend for the two cores and the whole run slower.
 */
const SLOW_FIRST = ["test/security/flood.test.ts", "test/faults/interrupts.test.ts"];

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
