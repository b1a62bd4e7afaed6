/**
 * What local mode's enforcement costs, and what it checks: one `relearn local run` of the bundled example with
 * enforcement (HTTPS, SigV4 verification, IAM policy evaluation, the SageMaker/SNS API-model validation) against
 * the same run on bare servers (HTTP, s3rver's own key check only, no IAM, no model), alternating, in one process.
 *
 *   NODE_OPTIONS=--openssl-legacy-provider npx tsx bench/enforcement.ts [--runs 3] [--requests-only]
 *
 * Prints the medians of both (execution and whole run without synth), their ratio, and how many requests one
 * enforced run checked against IAM (by service) and against the service models. The synth is done once, before
 * the timed runs; every run starts fresh (no champion), so all runs do the same work.
 *
 * The suite-wide count: every set of local services appends what it checked to RELEARN_ENFORCEMENT_LOG, so
 *   RELEARN_ENFORCEMENT_LOG=/tmp/enf.jsonl npm run test:unit -- test/e2e && npx tsx bench/enforcement.ts --sum /tmp/enf.jsonl
 * adds up what the end-to-end tests checked.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { LOCAL_ADMIN_CREDENTIALS } from '../local/iam/identities';
import type { EnforcementSummary } from '../local/local-env';
import { startLocalServices } from '../local/local-env';
import { runLocal } from '../local/local-run';
import { findPython } from '../local/services/sagemaker';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function sum(file: string): void {
  if (!existsSync(file)) throw new Error(`${file} not found`);
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EnforcementSummary);
  const total = { sets: lines.length, allowed: 0, denied: 0, byService: {} as Record<string, number>, validated: 0, rejected: 0, byOperation: {} as Record<string, number>, unknownMembers: {} as Record<string, number> };
  for (const l of lines) {
    total.allowed += l.iam.allowed;
    total.denied += l.iam.denied;
    for (const [s, c] of Object.entries(l.iam.byService)) total.byService[s] = (total.byService[s] ?? 0) + c.allowed + c.denied;
    total.validated += l.apiModel.validated;
    total.rejected += l.apiModel.rejected;
    for (const [o, c] of Object.entries(l.apiModel.byOperation)) total.byOperation[o] = (total.byOperation[o] ?? 0) + c;
    for (const [m, c] of Object.entries(l.apiModel.unknownMembers)) total.unknownMembers[m] = (total.unknownMembers[m] ?? 0) + c;
  }
  console.log(`${file}: ${total.sets} sets of local services`);
  console.log(`  IAM decisions: ${total.allowed + total.denied} (${total.allowed} allowed, ${total.denied} denied); by service: ${JSON.stringify(total.byService)}`);
  console.log(`  service-model validations: ${total.validated} (${total.rejected} refused); by operation: ${JSON.stringify(total.byOperation)}`);
  console.log(`  members the pinned model does not know: ${JSON.stringify(total.unknownMembers)}`);
}

/**
 * Per request, on an idle pair of servers: S3 GetObject of a small object and SageMaker DescribeEndpoint, each
 * `n` times sequentially over one keep-alive client, enforced (HTTPS + SigV4 + IAM + model) vs bare. Less noisy
 * than whole runs on a shared machine: it isolates what enforcement adds to each request.
 */
async function perRequest(n: number): Promise<void> {
  const results: Record<string, { s3: number; sm: number }> = {};
  for (const mode of ['enforced', 'bare', 'enforced', 'bare'] as const) {
    const stateDir = mkdtempSync(join(tmpdir(), 'relearn-bench-req-'));
    const services = await startLocalServices({ stateDir, python: findPython(), ...(mode === 'bare' ? { bare: true } : {}) });
    const sm = new SageMakerClient({ endpoint: services.sagemaker.endpoint, region: 'us-east-1', credentials: LOCAL_ADMIN_CREDENTIALS, maxAttempts: 1 });
    try {
      const s3 = services.s3.client;
      await s3.send(new CreateBucketCommand({ Bucket: 'bench-bucket' }));
      await s3.send(new PutObjectCommand({ Bucket: 'bench-bucket', Key: 'k.json', Body: '{"a":1}' }));
      const time = async (f: () => Promise<unknown>) => {
        const t: number[] = [];
        for (let i = 0; i < n; i++) {
          const s = performance.now();
          await f().catch(() => undefined);
          t.push(performance.now() - s);
        }
        return median(t);
      };
      const s3ms = await time(async () => (await s3.send(new GetObjectCommand({ Bucket: 'bench-bucket', Key: 'k.json' }))).Body!.transformToString());
      const smMs = await time(() => sm.send(new DescribeEndpointCommand({ EndpointName: 'missing' })));
      const prev = results[mode];
      results[mode] = prev ? { s3: Math.min(prev.s3, s3ms), sm: Math.min(prev.sm, smMs) } : { s3: s3ms, sm: smMs };
    } finally {
      sm.destroy();
      await services.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  const f = (ms: number) => `${ms.toFixed(2)} ms`;
  console.log(`per request (median of ${n}, best of 2 server starts each):`);
  console.log(`  S3 GetObject:               enforced ${f(results.enforced.s3)}, bare ${f(results.bare.s3)}, ratio ${(results.enforced.s3 / results.bare.s3).toFixed(2)}`);
  console.log(`  SageMaker DescribeEndpoint: enforced ${f(results.enforced.sm)}, bare ${f(results.bare.sm)}, ratio ${(results.enforced.sm / results.bare.sm).toFixed(2)}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--requests-only')) return perRequest(300);
  const sumAt = args.indexOf('--sum');
  if (sumAt >= 0) return sum(args[sumAt + 1]);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  const project = mkdtempSync(join(tmpdir(), 'relearn-bench-enforcement-'));
  const python = findPython();
  const config = { training: { pollIntervalSeconds: 1 }, deployment: { pollIntervalSeconds: 1 } };
  try {
    // The synth, once (cached for every timed run).
    await runLocal({ projectDir: project, config, fresh: true, python, logLevel: 'SILENT' });
    const times = { enforced: [] as number[], bare: [] as number[], enforcedExec: [] as number[], bareExec: [] as number[] };
    let summary: EnforcementSummary | undefined;
    for (let i = 0; i < runs; i++) {
      for (const mode of i % 2 ? (['bare', 'enforced'] as const) : (['enforced', 'bare'] as const)) {
        const r = await runLocal({ projectDir: project, config, fresh: true, python, logLevel: 'SILENT', ...(mode === 'bare' ? { bareServices: true } : {}) });
        if (r.status !== 'SUCCEEDED') throw new Error(`${mode} run ${i + 1}: ${r.status} ${r.error?.Error ?? ''} ${r.error?.Cause ?? ''}`);
        const t = r.timings;
        times[mode].push(t.servicesMs + t.provisionMs + t.uploadMs + t.executionMs);
        times[mode === 'bare' ? 'bareExec' : 'enforcedExec'].push(t.executionMs);
        if (mode === 'enforced') summary = r.enforcement;
        process.stderr.write(`  run ${i + 1} ${mode.padEnd(8)} ${sec(t.executionMs)} execution\n`);
      }
    }
    const [e, b] = [median(times.enforced), median(times.bare)];
    const [ee, be] = [median(times.enforcedExec), median(times.bareExec)];
    console.log(`relearn local run, bundled example, ${runs} runs each (alternating), medians:`);
    console.log(`  run (services + provision + upload + execution): enforced ${sec(e)}, bare ${sec(b)}, ratio ${(e / b).toFixed(3)} (${sec(e - b)} more)`);
    console.log(`  execution only:                                  enforced ${sec(ee)}, bare ${sec(be)}, ratio ${(ee / be).toFixed(3)}`);
    if (summary) {
      const by = Object.entries(summary.iam.byService).map(([s, c]) => `${s} ${c.allowed + c.denied}`).join(', ');
      console.log(`  one enforced run checked ${summary.iam.allowed + summary.iam.denied} requests against IAM (${by}; ${summary.iam.denied} denied)`);
      console.log(`  and ${summary.apiModel.validated} requests against the service models (${summary.apiModel.rejected} refused): ${JSON.stringify(summary.apiModel.byOperation)}`);
      const unknown = Object.keys(summary.apiModel.unknownMembers);
      console.log(`  members sent that the pinned model does not know: ${unknown.length ? unknown.join(', ') : 'none'}`);
    }
    await perRequest(300);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
