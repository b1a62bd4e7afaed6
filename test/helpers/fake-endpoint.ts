import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { createServer, IncomingMessage } from 'node:http';
import { AddressInfo } from 'node:net';

/** What a fake endpoint answers to the rows it was sent. */
export type EndpointAnswer = (rows: Record<string, string | null>[]) => { status: number; body: string; headers?: Record<string, string> };

/**
 * A real HTTP server speaking the SageMaker runtime protocol (POST /endpoints/<name>/invocations with a JSON list
 * of rows), whose answer a test sets, and a runtime client pointed at it. Every request is recorded.
 */
export async function startFakeEndpoint(initial: EndpointAnswer) {
  let answer = initial;
  const requests: { url?: string; contentType?: string; rows: Record<string, string | null>[] }[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rows = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    requests.push({ url: req.url, contentType: req.headers['content-type'], rows });
    const a = answer(rows);
    res.writeHead(a.status, { 'content-type': 'application/json', ...(a.headers ?? {}) });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const runtime = new SageMakerRuntimeClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', maxAttempts: 1 });
  return {
    runtime,
    requests,
    answer: (a: EndpointAnswer) => {
      answer = a;
    },
    stop: async () => {
      runtime.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
