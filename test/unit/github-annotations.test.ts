// Which file an ::error annotation names: GitHub resolves `file=` against
// GITHUB_WORKSPACE, so a file inside it is named relative to it.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { annotationPath, errorAnnotations } from "../../client/github.js";

describe("annotation paths", () => {
  it("a file inside the workspace is named relative to it", () => {
    expect(annotationPath("/home/runner/work/repo/repo/infra/prod.yaml", { GITHUB_WORKSPACE: "/home/runner/work/repo/repo" })).toBe("infra/prod.yaml");
    expect(annotationPath("/ws/infra.yaml", { GITHUB_WORKSPACE: "/ws/" })).toBe("infra.yaml");
  });

  it("a file outside the workspace, or with no workspace, keeps its absolute path", () => {
    expect(annotationPath("/tmp/infra.yaml", { GITHUB_WORKSPACE: "/home/runner/work/repo/repo" })).toBe("/tmp/infra.yaml");
    expect(annotationPath("/ws-other/infra.yaml", { GITHUB_WORKSPACE: "/ws" })).toBe("/ws-other/infra.yaml");
    expect(annotationPath("/ws/infra.yaml", {})).toBe("/ws/infra.yaml");
    expect(annotationPath("/ws/infra.yaml", { GITHUB_WORKSPACE: "" })).toBe("/ws/infra.yaml");
  });

  it("a workspace reached through a symbolic link still gives a relative path", () => {
    const dir = mkdtempSync(join(tmpdir(), "wft-annotations-"));
    mkdirSync(join(dir, "real", "stack"), { recursive: true });
    writeFileSync(join(dir, "real", "stack", "infra.yaml"), "modules: []\n");
    symlinkSync(join(dir, "real"), join(dir, "link"));
    expect(annotationPath(join(dir, "real", "stack", "infra.yaml"), { GITHUB_WORKSPACE: join(dir, "link") })).toBe("stack/infra.yaml");
  });

  it("the annotation carries the relative path, escaped as a property", () => {
    const [line] = errorAnnotations("bad", [{ file: "/ws/a,b.yaml", line: 3, column: 2, message: "bad" }], { GITHUB_WORKSPACE: "/ws" });
    expect(line).toBe("::error file=a%2Cb.yaml,line=3,col=2,title=wfctl::bad\n");
  });
});
