// The local provider reads a file in one read sized by the stat its
// containment walk just took (plugins/provider-local/file.ts readText): the
// whole file comes back as UTF-8 even when it grew or shrank since that stat.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readText } from "../../plugins/provider-local/file.js";
import { tempDir } from "../helpers/paths.js";

const temp = tempDir("wft-readtext-");
afterAll(() => temp.cleanup());

describe("local.file readText", () => {
  it("reads the whole file whatever size its stat said: the same, smaller (it grew past several reads), larger (it shrank), empty", async () => {
    const path = join(temp.path, "f.txt");
    const content = `héllo ${"x".repeat(200_000)} ✓\n`;
    writeFileSync(path, content);
    const size = Buffer.byteLength(content);
    const signal = new AbortController().signal;
    for (const said of [size, 0, 10, size - 1, size + 5]) expect(await readText(path, said, signal)).toBe(content);
    writeFileSync(path, "");
    expect(await readText(path, 0, signal)).toBe("");
  });

  it("stops when the operation is cancelled", async () => {
    const path = join(temp.path, "g.txt");
    writeFileSync(path, "text");
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(readText(path, 4, controller.signal)).rejects.toThrow("stop");
  });
});
