// Asserting on failures: the WfctlError a promise rejects with.
import { expect } from "vitest";
import { WfctlError } from "../../proto/errors.js";

/** The WfctlError `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<WfctlError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(WfctlError);
    return err as WfctlError;
  }
  throw new Error("expected a rejection with a WfctlError");
}

/** The WfctlError `fn` throws; fails the test if it returns or throws anything else. */
export function thrownBy(fn: () => unknown): WfctlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WfctlError);
    return err as WfctlError;
  }
  throw new Error("expected a WfctlError to be thrown");
}
