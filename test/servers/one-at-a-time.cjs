// For the emulator shims (s3-emulator.cjs, gcs-emulator.cjs): runs async work
// one call per id at a time, in order, so a conditional request's check and
// its write are one step, as on the real service.
"use strict";
const queues = new Map();

/** Runs fn once every earlier call with this id has settled; resolves or rejects as fn does. */
function oneAtATime(id, fn) {
  const run = (queues.get(id) || Promise.resolve()).then(fn);
  const settled = run.catch(() => {});
  queues.set(id, settled);
  settled.then(() => queues.get(id) === settled && queues.delete(id));
  return run;
}

module.exports = { oneAtATime };
