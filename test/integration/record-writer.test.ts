// The filesystem backend's record writer (daemon/state/record-writer.ts) with
// its real worker thread (dist/daemon/state/write-worker.js): records saved
// together land whole, with no temp file left; a record that cannot be
// written fails alone; and the thread killed with a batch in flight fails
// what it had not answered, never leaves a caller waiting, and the next
// record starts a new thread.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stopRecordWriter, useRecordWriterThread, writeRecordFile } from "../../daemon/state/record-writer.js";

// As in wfctld (daemon/main.ts); elsewhere records are written from the event loop.
useRecordWriterThread();

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "wfctl-record-writer-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = (i: number) => `${JSON.stringify({ record: i, padding: "x".repeat(200) })}\n`;

describe("writeRecordFile", () => {
  it("writes records saved together whole, over the old ones, and leaves no temp file", async () => {
    await writeRecordFile(join(dir, "r0.json"), dir, "old\n");
    await Promise.all(Array.from({ length: 50 }, (_, i) => writeRecordFile(join(dir, `r${i}.json`), dir, record(i))));
    for (let i = 0; i < 50; i++) expect(readFileSync(join(dir, `r${i}.json`), "utf8")).toBe(record(i));
    expect(readdirSync(dir).filter((name) => !name.endsWith(".json"))).toEqual([]);
  });

  it("fails a record whose directory is gone, with the system's reason, and writes the others of its batch", async () => {
    const gone = join(dir, "gone");
    const results = await Promise.allSettled([
      writeRecordFile(join(dir, "a.json"), dir, record(1)),
      writeRecordFile(join(gone, "b.json"), gone, record(2)),
      writeRecordFile(join(dir, "c.json"), dir, record(3)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const failed = results[1] as PromiseRejectedResult;
    expect(failed.reason).toMatchObject({ code: "ENOENT", message: expect.stringContaining(gone) });
    expect(readFileSync(join(dir, "c.json"), "utf8")).toBe(record(3));
  });

  it("the thread killed with a batch in flight: what it had not answered fails, nothing waits for good, and the next record is written", async () => {
    const count = 500;
    const writes = Array.from({ length: count }, (_, i) => writeRecordFile(join(dir, `k${i}.json`), dir, record(i)));
    // The batch is sent in a microtask queued by the first write, which runs before this await resumes.
    await Promise.resolve();
    await stopRecordWriter();
    const results = await Promise.allSettled(writes);
    const rejected = results.flatMap((r, i) => (r.status === "rejected" ? [{ i, reason: r.reason as Error }] : []));
    // Killed in the same turn it was sent, the thread had not written them all.
    expect(rejected.length).toBeGreaterThan(0);
    for (const { reason } of rejected) expect(reason.message).toMatch(/^the state writer thread stopped/);
    // A record answered as written is on disk whole.
    results.forEach((r, i) => {
      if (r.status === "fulfilled") expect(readFileSync(join(dir, `k${i}.json`), "utf8")).toBe(record(i));
    });
    await writeRecordFile(join(dir, "after.json"), dir, record(-1));
    expect(readFileSync(join(dir, "after.json"), "utf8")).toBe(record(-1));
  });
});
