// OpenTelemetry traces (issue 16), with the official SDK, loaded only when an OTLP endpoint is
// configured (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): a server span
// per request, joined to an incoming `traceparent`; client spans for Postgres queries, upstream
// calls and the node RPC proxy; spans for workflow runs and steps and for event publishes. The
// SDK reads the other standard variables itself (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER[_ARG], OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*…).
//
// Off (the default) every helper here is one test of a module variable: no SDK, no span objects.
import type { Attributes, Span, SpanKind, Tracer } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';

type Api = typeof import('@opentelemetry/api');

interface Started {
  api: Api;
  tracer: Tracer;
  shutdown(): Promise<void>;
}

let on: Started | undefined;

/** Whether the environment asks for traces (and OTEL_SDK_DISABLED does not forbid them). */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Starts the SDK in this process when configured; resolves with whether it did. */
export async function startTracing(about: { version: string; role: string }): Promise<boolean> {
  if (on || !tracingConfigured()) return on !== undefined;
  const [api, { NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources, semconv] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/semantic-conventions'),
    ]);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK) win over these defaults.
  const resource = resources
    .resourceFromAttributes({
      [semconv.ATTR_SERVICE_NAME]: 'ferrite',
      [semconv.ATTR_SERVICE_VERSION]: about.version,
      'process.pid': process.pid,
      'ferrite.role': about.role,
    })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // The W3C trace-context propagator and the AsyncLocalStorage context manager.
  provider.register();
  on = { api, tracer: api.trace.getTracer('ferrite', about.version), shutdown: () => provider.shutdown() };
  return true;
}

/** Sends what is buffered and stops (a draining process). */
export async function stopTracing(): Promise<void> {
  await on?.shutdown().catch(() => undefined);
}

export function tracingOn(): boolean {
  return on !== undefined;
}

const KIND: Record<'server' | 'client' | 'internal' | 'producer', SpanKind> = {
  server: 1 as SpanKind,
  client: 2 as SpanKind,
  producer: 3 as SpanKind,
  internal: 0 as SpanKind,
};

/**
 * Runs `fn` in a span named `name` (ended when it settles, marked as an error when it throws);
 * without tracing, just `fn`.
 */
export function inSpan<T>(
  name: string,
  kind: keyof typeof KIND,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!on) return fn(undefined);
  const { api, tracer } = on;
  return tracer.startActiveSpan(name, { kind: KIND[kind], attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The `traceparent` for a call made in `span`. */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? '01' : '00'}`;
}

/**
 * The request's server span, joined to its `traceparent` and made the active context for the
 * rest of the request; named `METHOD route` (the route template) when the response ends. The
 * request's trace ids (logs, forwarded headers) become the span's.
 */
export function traceRequest(req: Request, res: Response, next: NextFunction, routeOf: () => string): void {
  const { api, tracer } = on as Started;
  const parent = api.propagation.extract(api.context.active(), req.headers);
  const span = tracer.startSpan(
    req.method,
    {
      kind: KIND.server,
      attributes: {
        'http.request.method': req.method,
        'url.path': req.path,
        'url.scheme': req.protocol,
        'network.protocol.version': req.httpVersionMajor === 2 ? '2' : '1.1',
        'client.address': req.socket.remoteAddress ?? '',
        'user_agent.original': req.headers['user-agent'] ?? '',
      },
    },
    parent,
  );
  const c = span.spanContext();
  req.trace = {
    traceId: c.traceId,
    parentId: api.trace.getSpanContext(parent)?.spanId,
    spanId: c.spanId,
    flags: (c.traceFlags & 1) === 1 ? '01' : '00',
  };
  res.once('close', () => {
    const route = routeOf();
    const status = res.headersSent ? res.statusCode : 499;
    span.updateName(`${req.method} ${route}`);
    span.setAttribute('http.route', route);
    span.setAttribute('http.response.status_code', status);
    if (status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
    span.end();
  });
  api.context.with(api.trace.setSpan(parent, span), next);
}
