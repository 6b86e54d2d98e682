// Loaded into processes by the fault tests (NODE_OPTIONS=--import), acting
// only in wfctld: on SIGUSR2 it does what WFCTL_TEST_FAULT says, from inside
// the real daemon, so that the tests can check what the daemon does with a
// failure no request can cause any more.
//   unhandled: an exception thrown from a callback and a promise rejected,
//              neither handled by anything: the daemon must log both and go on.
//   oom:       allocates until V8 runs out of heap (start the daemon with a
//              small --max-old-space-size): a real crash, whose message Node
//              writes to stderr, which must reach wfctld.log.
if (process.argv[1]?.endsWith("wfctld.js")) {
  process.on("SIGUSR2", () => {
    const fault = process.env["WFCTL_TEST_FAULT"];
    if (fault === "unhandled") {
      setImmediate(() => {
        throw new Error("injected: an exception nothing handles");
      });
      void Promise.reject(new Error("injected: a rejection nothing handles"));
    } else if (fault === "oom") {
      const kept = [];
      setImmediate(() => {
        for (;;) kept.push(new Array(1_000_000).fill(kept.length));
      });
    }
  });
}
