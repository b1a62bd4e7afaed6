import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from './sagemaker/api-error';

/**
 * The HTTP front of a local AWS service that speaks the AWS JSON 1.0 protocol (`POST /`, `x-amz-target:
 * <prefix>.<Operation>`, a JSON body): SQS and Step Functions here. An ApiError is answered with its status and
 * `{"__type": "<namespace>#<type>", "message"}`, which the SDK turns into an error of that name; anything else is a
 * 500 InternalError. Listens on a free 127.0.0.1 port.
 */
export async function startJsonApi(opts: {
  /** `AmazonSQS`, `AWSStepFunctions` */
  readonly targetPrefix: string;
  /** What `__type` starts with: `com.amazonaws.sqs`. */
  readonly errorNamespace: string;
  readonly internalError: string;
  readonly call: (operation: string, input: Record<string, unknown>) => unknown;
}): Promise<{ readonly endpoint: string; stop(): Promise<void> }> {
  const target = new RegExp(`^${opts.targetPrefix}\\.(\\w+)$`);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': String(Buffer.byteLength(text)), 'x-amzn-requestid': randomUUID() });
        res.end(text);
      };
      try {
        const header = String(req.headers['x-amz-target'] ?? '');
        const m = target.exec(header);
        if (req.method !== 'POST' || !m) throw new ApiError('UnknownOperationException', `x-amz-target "${header}" is not an operation of ${opts.targetPrefix} (expected ${opts.targetPrefix}.<Operation>)`);
        let input: Record<string, unknown>;
        try {
          input = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
        } catch {
          throw new ApiError('SerializationException', 'The request body is not valid JSON');
        }
        reply(200, opts.call(m[1], input));
      } catch (err) {
        if (err instanceof ApiError) reply(err.status, { __type: `${opts.errorNamespace}#${err.type}`, message: err.message });
        else reply(500, { __type: `${opts.errorNamespace}#${opts.internalError}`, message: (err as Error).message });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
