// The cheapest Node.js client of a warm wfctld that still does the job of
// `wfctl daemon status`: one Connect unary call (its JSON form, which the
// daemon serves beside binary) over the socket with node:http, two fields
// of the answer printed. No CLI parsing, no protobuf runtime, no Connect
// library, no telemetry. Figure 3 times it as the floor under any client
// written in Node: what `daemon status` costs beyond it is wfctl's own.
//
//   WFCTL_SOCKET=… node bench/floor-client.mjs
import { request } from "node:http";

const socketPath = process.env.WFCTL_SOCKET;
if (!socketPath) {
  process.stderr.write("floor-client: set WFCTL_SOCKET to the daemon's socket\n");
  process.exit(2);
}
const req = request(
  {
    socketPath,
    method: "POST",
    path: "/wfctl.daemon.v1.DaemonService/Status",
    headers: { host: "localhost", "content-type": "application/json", "connect-protocol-version": "1" },
  },
  (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk) => (body += chunk));
    res.on("end", () => {
      if (res.statusCode !== 200) {
        process.stderr.write(`floor-client: HTTP ${res.statusCode}: ${body.slice(0, 200)}\n`);
        process.exitCode = 1;
        return;
      }
      const status = JSON.parse(body);
      process.stdout.write(`wfctld ${status.version} is running (pid ${status.pid})\n`);
    });
  },
);
req.on("error", (err) => {
  process.stderr.write(`floor-client: ${err.message}\n`);
  process.exitCode = 1;
});
req.end("{}");
