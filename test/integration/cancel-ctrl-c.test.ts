// The client's Ctrl-C path against the real engine (in-process, as
// --no-daemon runs it): Cancel of an operation that ended just before answers
// NOT_FOUND, and the client takes that as "nothing left to stop", printing
// nothing; any other failure of the Cancel is still said.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Connection, connectInProcess } from "../../client/connection.js";
import { cancelOperation } from "../../client/runtime.js";
import { ErrorCode } from "../../proto/errors.js";
import { fromConnectError } from "../../proto/connect-errors.js";
import { tempDir } from "../helpers/paths.js";

describe("Ctrl-C's Cancel", () => {
  const dir = tempDir("wft-cancel-client-");
  let connection: Connection;
  beforeAll(async () => {
    connection = await connectInProcess(join(dir.path, "wfctld.sock"));
  });
  afterAll(async () => {
    await connection.close();
    dir.cleanup();
  });

  /** What `fn` writes on stderr. */
  async function stderrOf(fn: () => Promise<void>): Promise<string> {
    let written = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((written += String(chunk)), true));
    try {
      await fn();
    } finally {
      spy.mockRestore();
    }
    return written;
  }

  it("the engine answers NOT_FOUND for an operation that is not running, naming it", async () => {
    const error = await connection.client.cancel({ operationId: "op-ended" }).then(
      () => undefined,
      (err: unknown) => fromConnectError(err),
    );
    expect(error?.code).toBe(ErrorCode.NOT_FOUND);
    expect(error?.message).toBe("no operation op-ended is running: it may have finished; `wfctl daemon status` lists those running");
  });

  it("the client takes NOT_FOUND as an operation that just ended: no error printed", async () => {
    expect(await stderrOf(() => cancelOperation(connection, "op-ended"))).toBe("");
  });

  it("any other failure of the Cancel is said", async () => {
    const said = await stderrOf(() => cancelOperation(connection, ""));
    expect(said).toMatch(/^could not cancel the operation: .*operation_id is required\n$/);
  });
});
