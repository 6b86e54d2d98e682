// OpenTelemetry for all three processes (wfctl, wfctld, plugins): one trace
// per command, carried across the socket and the plugin boundary as a W3C
// `traceparent`. Off by default; the standard OTEL_* variables turn it on
// (OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER = otlp, or an
// OTEL_EXPORTER_OTLP_*ENDPOINT) and configure the OTLP/HTTP exporters. The SDK
// is loaded only then, so a command that is not traced pays nothing for it.
import {
  type Attributes,
  type Context,
  type Meter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  context,
  metrics,
  propagation,
  trace,
} from "@opentelemetry/api";
import { WFCTL_VERSION } from "./versions.js";

/** The W3C trace-context header, in gRPC metadata and HTTP headers alike. */
export const TRACEPARENT = "traceparent";

export interface Telemetry {
  tracer: Tracer;
  meter: Meter;
  /** True when spans are exported somewhere. */
  enabled: boolean;
  /**
   * Exports what is pending, waiting at most `timeoutMs` (default 2 s): an
   * unreachable collector must never hold a command up.
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

function wants(signal: "TRACES" | "METRICS", env: NodeJS.ProcessEnv): boolean {
  const exporter = (env[`OTEL_${signal}_EXPORTER`] ?? "").trim().toLowerCase();
  if (exporter === "none") return false;
  if (exporter.split(",").includes("otlp")) return true;
  if (env["OTEL_SDK_DISABLED"] === "true") return false;
  return Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]);
}

/** A standard OTEL_* number (the SDK classes used here do not read the environment themselves). */
function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

let current: Telemetry | undefined;

/**
 * Sets up tracing and metrics for this process as `serviceName` (unless
 * OTEL_SERVICE_NAME says otherwise). Idempotent.
 */
export async function initTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  if (current) return current;
  const tracesOn = wants("TRACES", env);
  const metricsOn = wants("METRICS", env);
  const shutdowns: (() => Promise<void>)[] = [];
  if (tracesOn || metricsOn) {
    const [{ W3CTraceContextPropagator }, { resourceFromAttributes }] = await Promise.all([
      import("@opentelemetry/core"),
      import("@opentelemetry/resources"),
    ]);
    const resource = resourceFromAttributes({ "service.name": env["OTEL_SERVICE_NAME"] || serviceName, "service.version": WFCTL_VERSION });
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    if (tracesOn) {
      const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }] = await Promise.all([
        import("@opentelemetry/sdk-trace"),
        import("@opentelemetry/exporter-trace-otlp-http"),
      ]);
      const processor = new BatchSpanProcessor({
        exporter: new OTLPTraceExporter(),
        scheduledDelayMillis: envNumber(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000),
        exportTimeoutMillis: envNumber(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000),
        maxQueueSize: envNumber(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2_048),
        maxExportBatchSize: envNumber(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
      });
      const provider = new TracerProvider({ resource, spanProcessors: [processor] });
      trace.setGlobalTracerProvider(provider);
      shutdowns.push(() => provider.shutdown());
    }
    if (metricsOn) {
      const [{ MeterProvider, PeriodicExportingMetricReader }, { OTLPMetricExporter }] = await Promise.all([
        import("@opentelemetry/sdk-metrics"),
        import("@opentelemetry/exporter-metrics-otlp-http"),
      ]);
      const reader = new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: envNumber(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000),
        exportTimeoutMillis: Math.min(envNumber(env, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000), envNumber(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000)),
      });
      const provider = new MeterProvider({ resource, readers: [reader] });
      metrics.setGlobalMeterProvider(provider);
      shutdowns.push(() => provider.shutdown());
    }
  }
  current = {
    tracer: trace.getTracer("wfctl", WFCTL_VERSION),
    meter: metrics.getMeter("wfctl", WFCTL_VERSION),
    enabled: tracesOn,
    shutdown: async (timeoutMs = 2_000) => {
      if (shutdowns.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(shutdowns.map((s) => s())),
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    },
  };
  return current;
}

/** The tracer (a no-op one until initTelemetry turned tracing on). */
export function tracer(): Tracer {
  return trace.getTracer("wfctl", WFCTL_VERSION);
}

export function meter(): Meter {
  return metrics.getMeter("wfctl", WFCTL_VERSION);
}

/** The trace context carried by `carrier` (request metadata or headers). */
export function extractTrace(carrier: Readonly<Record<string, string>>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** `carrier` plus the `traceparent` of `ctx` (unchanged when nothing is traced). */
export function injectTrace(ctx: Context, carrier: Record<string, string> = {}): Record<string, string> {
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Runs `fn` inside a new span; the span records the error and ends either way. */
export async function inSpan<T>(
  name: string,
  options: { parent: Context; kind?: SpanKind; attributes?: Attributes },
  fn: (span: Span, ctx: Context) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, options.parent);
  const ctx = trace.setSpan(options.parent, span);
  try {
    return await context.with(ctx, () => fn(span, ctx));
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(e.message ?? err) });
    if (typeof e.code === "string") span.setAttribute("wfctl.error_code", e.code);
    throw err;
  } finally {
    span.end();
  }
}

export { ROOT_CONTEXT, SpanKind, type Context, type Span };
