// The rules both sides apply to the daemon's directory, socket and files
// (proto/private-files.ts), as pure functions: no file system, no processes.
import { describe, expect, it } from "vitest";
import { type PathFacts, describeUid, privatePathProblem, userNameOf } from "../../proto/private-files.js";

const PASSWD = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nci::1001:1001::/home/ci:/bin/sh\n";
const nameOf = (uid: number) => userNameOf(uid, PASSWD);
const ME = 1001;
const dir = (mode: number, uid = ME): PathFacts => ({ kind: "directory", uid, mode: 0o040000 | mode });

describe("who owns a path, in words", () => {
  it("finds a uid's login name in the passwd text, and none for a uid it lacks", () => {
    expect(userNameOf(65534, PASSWD)).toBe("nobody");
    expect(userNameOf(0, PASSWD)).toBe("root");
    expect(userNameOf(4242, PASSWD)).toBeUndefined();
    expect(userNameOf(0, "broken line\n::\n")).toBeUndefined();
    expect(describeUid(65534, nameOf)).toBe("uid 65534 (nobody)");
    expect(describeUid(4242, nameOf)).toBe("uid 4242");
  });
});

describe("what a private path must be", () => {
  it("accepts the user's own 0700 directory, own socket and own regular file", () => {
    expect(privatePathProblem(dir(0o700), "directory", ME, { nameOf })).toBeUndefined();
    expect(privatePathProblem({ kind: "socket", uid: ME, mode: 0o140600 }, "socket", ME, { nameOf })).toBeUndefined();
    // A file's mode is its owner's business: only who owns it and what it is count.
    expect(privatePathProblem({ kind: "file", uid: ME, mode: 0o100644 }, "file", ME, { nameOf })).toBeUndefined();
  });

  it("refuses another user's directory, naming both uids", () => {
    expect(privatePathProblem(dir(0o777, 65534), "directory", ME, { nameOf })).toBe("belongs to uid 65534 (nobody), and you are uid 1001 (ci)");
    // Even one closed to everyone else: whoever owns it can listen there.
    expect(privatePathProblem(dir(0o700, 0), "directory", ME, { nameOf })).toBe("belongs to uid 0 (root), and you are uid 1001 (ci)");
  });

  it("refuses the user's own directory when its group or others can reach into it", () => {
    expect(privatePathProblem(dir(0o770), "directory", ME, { nameOf })).toBe("is open to its group (mode 0770)");
    expect(privatePathProblem(dir(0o701), "directory", ME, { nameOf })).toBe("is open to other users (mode 0701)");
    expect(privatePathProblem(dir(0o755), "directory", ME, { nameOf })).toBe("is open to its group and other users (mode 0755)");
  });

  it("refuses a symbolic link in any role, whoever owns it", () => {
    for (const role of ["directory", "socket", "file"] as const) {
      expect(privatePathProblem({ kind: "symlink", uid: ME, mode: 0o120777 }, role, ME, { nameOf })).toBe("is a symbolic link");
    }
  });

  it("refuses the wrong kind of thing, saying what it is", () => {
    expect(privatePathProblem({ kind: "file", uid: ME, mode: 0o100600 }, "directory", ME, { nameOf })).toBe("is not a directory: it is a regular file");
    expect(privatePathProblem({ kind: "file", uid: ME, mode: 0o100600 }, "socket", ME, { nameOf })).toBe("is not a socket: it is a regular file");
    expect(privatePathProblem({ kind: "other", uid: ME, mode: 0o010600 }, "file", ME, { nameOf })).toBe("is not a regular file: it is a FIFO or other special file");
    expect(privatePathProblem({ kind: "directory", uid: ME, mode: 0o040700 }, "file", ME, { nameOf })).toBe("is not a regular file: it is a directory");
  });

  it("refuses another user's socket or file", () => {
    expect(privatePathProblem({ kind: "socket", uid: 65534, mode: 0o140777 }, "socket", ME, { nameOf })).toBe("belongs to uid 65534 (nobody), and you are uid 1001 (ci)");
    expect(privatePathProblem({ kind: "file", uid: 65534, mode: 0o100600 }, "file", ME, { nameOf })).toBe("belongs to uid 65534 (nobody), and you are uid 1001 (ci)");
  });

  it("takes a character device as a file only when asked (a log sent to /dev/null)", () => {
    const devNull: PathFacts = { kind: "device", uid: 0, mode: 0o020666 };
    expect(privatePathProblem(devNull, "file", ME, { nameOf, devices: true })).toBeUndefined();
    expect(privatePathProblem(devNull, "file", ME, { nameOf })).toBe("is not a regular file: it is a device");
  });
});
