// Printing outputs: masking, ::add-mask:: commands and JSON, as pure logic.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { OutputValueSchema } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { addMaskCommands, outputsJson, renderOutputs, underGitHubActions } from "../../client/output/outputs.js";

const plain = create(OutputValueSchema, { name: "url", valueJson: JSON.stringify("https://x"), source: "web.url" });
const secretSent = create(OutputValueSchema, { name: "token", valueJson: JSON.stringify("abc%def"), sensitive: true, source: "t.content" });
const secretWithheld = create(OutputValueSchema, { name: "pw", valueJson: "", sensitive: true, source: "db.password" });

describe("outputs", () => {
  it("masks sensitive values unless shown, and never prints one that was not sent", () => {
    expect(renderOutputs([plain, secretSent, secretWithheld], false, "x")).toBe('url   = "https://x"\ntoken = <sensitive>\npw    = <sensitive>\n');
    expect(renderOutputs([plain, secretSent, secretWithheld], true, "x")).toBe('url   = "https://x"\ntoken = "abc%def"\npw    = <sensitive>\n');
    expect(outputsJson([secretSent], false)).toEqual({ token: { sensitive: true, source: "t.content", masked: true } });
    expect(outputsJson([secretSent], true)).toEqual({ token: { sensitive: true, source: "t.content", value: "abc%def" } });
  });

  it("registers a value, each string in it and each line of a multi-line one, escaped as workflow commands", () => {
    expect(addMaskCommands("abc%def")).toEqual(["::add-mask::abc%25def\n"]);
    const lines = addMaskCommands("line one\nline two");
    expect(lines).toContain("::add-mask::line one%0Aline two\n");
    expect(lines).toContain("::add-mask::line one\n");
    expect(lines).toContain("::add-mask::line two\n");
    expect(lines).toContain('::add-mask::"line one\\nline two"\n');
    expect(addMaskCommands({ user: "u1", password: "p4ss" })).toEqual(
      expect.arrayContaining(["::add-mask::u1\n", "::add-mask::p4ss\n", '::add-mask::{"user":"u1","password":"p4ss"}\n']),
    );
    expect(addMaskCommands("   ")).toEqual([]);
  });

  it("knows it is under GitHub Actions only when GITHUB_ACTIONS is exactly true", () => {
    expect(underGitHubActions({ GITHUB_ACTIONS: "true" })).toBe(true);
    expect(underGitHubActions({ GITHUB_ACTIONS: "1" })).toBe(false);
    expect(underGitHubActions({})).toBe(false);
  });
});
