// A minimal OTLP/HTTP (JSON) trace and metrics receiver: what the processes under test
// export to when the standard OTEL_* variables point them here.
import { type Server, createServer } from "node:http";

export interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
}

interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: { name: string; traceId: string; spanId: string; parentSpanId?: string; kind: number }[] }[];
  }[];
}

interface OtlpMetrics {
  resourceMetrics?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeMetrics?: { metrics?: { name: string }[] }[];
  }[];
}

export class OtlpCollector {
  readonly spans: ReceivedSpan[] = [];
  /** Metric names received, as `service metric`. */
  readonly metrics = new Set<string>();
  /** Every request body received, as sent (to look for what must never be exported, attributes included). */
  readonly bodies: string[] = [];
  private server: Server | undefined;
  endpoint = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => {
        this.bodies.push(body);
        if (req.url === "/v1/traces") {
          const data = JSON.parse(body) as OtlpTraces;
          for (const rs of data.resourceSpans ?? []) {
            const service = rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "";
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                this.spans.push({ service, name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? "", kind: s.kind });
              }
            }
          }
        }
        if (req.url === "/v1/metrics") {
          const data = JSON.parse(body) as OtlpMetrics;
          for (const rm of data.resourceMetrics ?? []) {
            const service = rm.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "";
            for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) this.metrics.add(`${service} ${m.name}`);
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("collector has no port");
    this.endpoint = `http://127.0.0.1:${address.port}`;
  }

  /** The environment that makes a process export its traces here, quickly. */
  env(): Record<string, string> {
    return {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_METRIC_EXPORT_INTERVAL: "300",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: this.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
