// Issue 16: with OTEL_EXPORTER_OTLP_ENDPOINT set, every worker exports OpenTelemetry traces
// (the official SDK, OTLP over HTTP) to a real, small OTLP receiver here: the tree of a gateway
// call joined to the caller's traceparent and propagated upstream, and the tree of a workflow run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer } from './helpers/clients.ts';
import { useCluster } from './helpers/cluster.ts';
import { JWT_SECRET, mint } from './helpers/gateway.ts';
import { HttpDouble } from './helpers/http-double.ts';
import { until } from './helpers/until.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';
import { createStep, WorkflowUser } from './helpers/workflow.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

type ResourceSpans = {
  resource: { attributes: { key: string; value: { stringValue?: string } }[] };
  scopeSpans: { spans: OtlpSpan[] }[];
}[];

/** An OTLP/HTTP receiver (JSON, as the exporter sends it): POST /v1/traces, spans kept. */
const exported: (OtlpSpan & { service: string })[] = [];
const receiver = new HttpDouble((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/v1/traces' && req.method === 'POST') {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: ResourceSpans };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) exported.push({ ...s, service });
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v ? (v.stringValue ?? v.intValue ?? v.boolValue) : undefined;
};
// OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer.
const KIND = { internal: 1, server: 2, client: 3, producer: 4 };

const task = new UpstreamDouble();
const service = useCluster({
  doubles: [receiver, task],
  env: () => ({
    JWT_SECRET,
    TASK_UPSTREAM_URL: task.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
  }),
});

describe('OpenTelemetry traces', () => {
  it('join a gateway call to the caller, with its upstream call as a child propagated upstream', async () => {
    const traceId = 'aa'.repeat(16);
    const callerSpan = 'bb'.repeat(8);
    const { token } = await mint('task:read');
    const res = await service.h1.request(service.url('/v1/task/items/7?x=1'), {
      headers: { ...bearer(token), traceparent: `00-${traceId}-${callerSpan}-01` },
    });
    assert.equal(res.status, 200);
    const spans = await until('the gateway call to be exported', () => {
      const mine = exported.filter((s) => s.traceId === traceId);
      return mine.some((s) => s.kind === KIND.server) && mine.some((s) => s.kind === KIND.client)
        ? mine
        : undefined;
    });
    const server = spans.find((s) => s.kind === KIND.server) as OtlpSpan & { service: string };
    assert.equal(server.parentSpanId, callerSpan, 'joined to the incoming traceparent');
    assert.equal(server.name, 'GET /v1/task/*', 'named by the route template');
    assert.equal(server.service, 'ferrite');
    assert.equal(attr(server, 'http.route'), '/v1/task/*');
    assert.equal(Number(attr(server, 'http.response.status_code')), 200);
    const client = spans.find((s) => s.kind === KIND.client) as OtlpSpan;
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(attr(client, 'ferrite.upstream'), 'task');
    assert.equal(Number(attr(client, 'http.response.status_code')), 200);
    // The upstream got the client span's context.
    const seen = task.received.find((r) => r.url === '/items/7?x=1');
    assert.equal(seen?.headers.traceparent, `00-${traceId}-${client.spanId}-01`);
    assert.equal(
      res.json<{ headers: Record<string, string> }>().headers.traceparent,
      seen?.headers.traceparent,
    );
  });

  it('give a workflow run its tree: run, steps, their queries and event publishes', async () => {
    const { u, projectId } = await WorkflowUser.withProject(service.h1, service.cluster.http);
    const runId = await u.start({
      projectId,
      plan: { steps: [createStep('s1', 'a.txt', 'one'), createStep('s2', 'b.txt', 'two', ['s1'])] },
    });
    assert.equal((await u.finished(runId)).status, 'succeeded');
    const { steps } = await until('the run to be exported', () => {
      const run = exported.find((s) => s.name === 'workflow.run' && attr(s, 'ferrite.run') === runId);
      const steps = run
        ? exported.filter((s) => s.parentSpanId === run.spanId && s.name.startsWith('workflow.step'))
        : [];
      return run && steps.length === 2 ? { run, steps } : undefined;
    });
    assert.deepEqual(steps.map((s) => s.name).sort(), ['workflow.step vfs.write', 'workflow.step vfs.write']);
    for (const step of steps) {
      const children = exported.filter((s) => s.parentSpanId === step.spanId);
      assert.ok(
        children.some((c) => c.kind === KIND.client && attr(c, 'db.system.name') === 'postgresql'),
        `${step.name}: its Postgres statements`,
      );
      assert.ok(
        children.some((c) => c.name === 'publish workflow.step.started' && c.kind === KIND.producer),
        `${step.name}: its events published`,
      );
    }
  });
});
