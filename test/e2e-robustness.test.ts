import { SageMakerRuntimeClient, InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import { DescribeEndpointCommand } from '@aws-sdk/client-sagemaker';
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { LOCAL_REGION } from '../local/local-env';
import { LOCAL_S3_CREDENTIALS } from '../local/services/s3-server';
import { bodyOf, E2eProject, RunJson } from './helpers/e2e';
import { RelearnProcess } from './helpers/process-tree';

/**
 * Issue 13 through `relearn local run`: big files whose header Ingest refuses end the run (they used to hang it),
 * a second run of the same pipeline is refused while one runs, a crashed serving process is replaced (and an
 * endpoint left Failed comes back), `invoke --body-file` / `--body -` and SageMaker's 6 MB request limit, and the
 * printed invoke command runs as printed (and is not printed when no model serves).
 */

jest.setTimeout(1800000);

const CONFIG = {
  dataset: { labelColumn: 'churned', idColumn: 'customer_id', sliceColumns: ['country', 'plan'], validationFraction: 0.2 },
  training: { hyperparameters: { estimator: 'logistic', 'max-text-features': 500 } },
};
const EXAMPLE = join(__dirname, '..', 'examples', 'churn', 'data', 'churn-clean.csv');

const project = new E2eProject('relearn-e2e-robust-');
let data: string;
let champion: RunJson;
let sampleBody: string;
const started: RelearnProcess[] = [];

beforeAll(async () => {
  project.writeConfig('config', CONFIG);
  data = await project.writeData('day', { rows: 3000, seed: 3 });
});
afterAll(() => {
  for (const p of started) p.killAll();
  project.cleanup();
});

/** A CSV of about `mb` megabytes: `header`, then the example's rows over and over. */
async function bigCsv(name: string, header: string, mb: number): Promise<string> {
  const rows = readFileSync(EXAMPLE, 'utf8').split('\n').slice(1).filter(Boolean).join('\n') + '\n';
  const path = join(project.dir, 'data', name);
  const out = createWriteStream(path);
  out.write(header + '\n');
  for (let written = 0; written < mb * 1024 * 1024; written += rows.length) {
    if (!out.write(rows)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return path;
}

/** Settles within `ms` or fails: a run that hangs must fail the test, not time it out silently. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms).unref())]);
}

/** Splits a printed shell command into words (single quotes with '\'' escapes, as the CLI prints them). */
function words(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let i = 0;
  let inWord = false;
  while (i < command.length) {
    const c = command[i];
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      cur += command.slice(i + 1, end);
      i = end + 1;
      inWord = true;
    } else if (c === '\\') {
      cur += command[i + 1];
      i += 2;
      inWord = true;
    } else if (c === ' ') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

describe('relearn local run under abuse', () => {
  test('GIVEN a champion; the printed invoke command runs as printed, from the project folder', async () => {
    const { code, json, log } = await project.run({ config: 'config', data, extra: ['--fresh'] });
    expect({ code, status: json.status }).toEqual({ code: 0, status: 'SUCCEEDED' });
    champion = json;
    // The command names the config (not the folder's default relearn.config.json) so it reaches this pipeline.
    expect(json.invoke).toMatch(/^npx relearn local invoke --config config\.json --body '\{.*\}'$/);
    expect(log).toContain(json.invoke!);
    sampleBody = bodyOf(json.invoke!);
    const argv = words(json.invoke!);
    expect(argv.slice(0, 2)).toEqual(['npx', 'relearn']);
    const r = await project.cli(argv.slice(2));
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(r.out).predictions).toHaveLength(1);
  });

  test.each([
    ['a duplicated header column (17 MB)', 'dup.csv', (h: string) => h.replace('seats', 'tenure_months'), 17, /dup\.csv line 1: header names column "tenure_months" twice \(fields 4 and 5\)/],
    ['a missing id column (58 MB)', 'noid.csv', (h: string) => h.replace('customer_id', 'client_id'), 58, /noid\.csv: the id column "customer_id" \(dataset\.idColumn\) is not in the header/],
    ['an empty header field (15 MB)', 'empty-field.csv', (h: string) => h.replace('plan', ''), 15, /empty-field\.csv line 1: header field 7 is empty/],
  ])('Ingest refusing %s ends the run with its error', async (_what, name, header, mb, message) => {
    const file = await bigCsv(name, header(readFileSync(EXAMPLE, 'utf8').split('\n')[0]), mb);
    const { code, json } = await within(600000, project.run({ config: 'config', data: file }), `the run on ${name}`);
    expect(code).toBe(1);
    expect(json.error?.Error).toBe('IngestError');
    expect(json.error?.Cause).toMatch(message);
    // The champion is untouched and still serves (so the invoke command is still suggested).
    expect(json.champion?.executionName).toBe(champion.executionName);
    expect(json.invoke).toMatch(/^npx relearn local invoke /);
  });

  test('a UTF-16 file, gzip bytes in a .csv, CR-only line ends: named before anything starts (exit 2, Ingest\'s own check)', async () => {
    const text = readFileSync(data, 'utf8');
    const cases: [string, Buffer, RegExp][] = [
      ['utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), /utf16\.csv line 1: the file is UTF-16 LE text \(it starts with the byte order mark FF FE\); relearn reads UTF-8/],
      ['zipped.csv', require('node:zlib').gzipSync(text), /zipped\.csv line 1: the file is gzip-compressed \(it starts with the gzip bytes 1f 8b\), but its name does not end with \.gz/],
      ['mac.csv', Buffer.from(text.replace(/\n/g, '\r')), /mac\.csv line 1: lines end with a CR alone/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(project.dir, 'data', name);
      writeFileSync(file, bytes);
      const r = await project.cli(['local', 'run', '--config', 'config.json', '--data', file]);
      expect({ code: r.code, out: r.out }).toEqual({ code: 2, out: '' });
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });

  test('a second run of the pipeline while one runs is refused, naming the running execution; the first one is unharmed', async () => {
    // GIVEN a run in progress (a real process, holding the pipeline's lock)
    const before = await project.modelPackages('relearn-models');
    const first = new RelearnProcess(['local', 'run', '--config', 'config.json', '--data', data], { cwd: project.dir });
    started.push(first);
    await first.waitFor('its execution', () => /^execution (local-\S+)/m.test(first.text));
    const executionName = /^execution (local-\S+)/m.exec(first.text)![1];
    try {
      await refusedWhileRunning(executionName);
    } finally {
      await first.exited;
    }
    // AND the first run finishes as if alone: one more model package, its own
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(first.text).toMatch(/Outcome: SUCCEEDED/);
    const after = await project.modelPackages('relearn-models');
    expect(after.length).toBe(before.length + 1);
    expect(new Set(after.map((p) => p.ModelPackageVersion)).size).toBe(after.length);
    champion = JSON.parse(readFileSync(join(project.stateDir, 'last-run.json'), 'utf8')) as RunJson;
  });

  /** While the run named `executionName` runs: a second run, invoke and reset are refused before anything starts. */
  async function refusedWhileRunning(executionName: string): Promise<void> {
    const second = await project.cli(['local', 'run', '--config', 'config.json', '--data', data]);
    expect(second.code).toBe(2);
    expect(second.err).toMatch(new RegExp(`^relearn: pipeline "relearn" is busy: execution ${executionName} is running \\(pid \\d+ on `));
    expect(second.out).toBe('');
    // invoke, schema and reset would start a second server on the same state, or delete it under the run
    const invoke = await project.invoke(sampleBody);
    expect({ code: invoke.code, err: invoke.err }).toEqual({ code: 2, err: expect.stringMatching(/pipeline "relearn" is busy/) });
    expect((await project.cli(['local', 'reset', '--config', 'config.json'])).code).toBe(2);
    expect(existsSync(project.stateDir)).toBe(true);
  }

  test('a crashed serving process is replaced and the endpoint answers; an endpoint left Failed comes back on its last config', async () => {
    const endpoint = champion.endpointName;
    const invokeVia = async (port: string) => {
      const client = new SageMakerRuntimeClient({ endpoint: port, region: LOCAL_REGION, credentials: LOCAL_S3_CREDENTIALS });
      try {
        const res = await client.send(new InvokeEndpointCommand({ EndpointName: endpoint, Body: Buffer.from(sampleBody), ContentType: 'application/json' }));
        return Buffer.from(res.Body!).toString('utf8');
      } finally {
        client.destroy();
      }
    };
    // This process's serving processes (the inspector's local SageMaker runs in it).
    const serveProcesses = (): number[] => {
      const r = spawnSync('pgrep', ['-f', '-P', String(process.pid), 'serve.py'], { encoding: 'utf8' });
      return r.stdout.trim().split('\n').filter(Boolean).map(Number);
    };
    await project.inspect(async (look) => {
      const url = look.services.sagemaker.endpoint;
      const before = await invokeVia(url);
      // WHEN the serving process dies
      const [pid] = serveProcesses();
      process.kill(pid, 'SIGKILL');
      // THEN a replacement serves the same model
      let answer: string | undefined;
      const deadline = Date.now() + 120000;
      while (!answer && Date.now() < deadline) {
        answer = await invokeVia(url).catch(() => undefined);
        if (!answer) await new Promise((r) => setTimeout(r, 250));
      }
      expect(answer).toBe(before);
      // WHEN it keeps dying (more than the 3 replacements the server allows) THEN the endpoint is Failed
      for (let i = 0; i < 4; i++) {
        const alive = serveProcesses();
        if (alive.length) process.kill(alive[0], 'SIGKILL');
        const wait = Date.now() + 120000;
        while (Date.now() < wait) {
          const st = (await look.services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: endpoint }))).EndpointStatus;
          if (st === 'Failed' || serveProcesses().some((p) => !alive.includes(p))) break;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      const failed = await look.services.sagemakerClient.send(new DescribeEndpointCommand({ EndpointName: endpoint }));
      // Failed: replaced 3 times already, or a replacement killed while it loaded ("did not start again")
      expect(failed.EndpointStatus).toBe('Failed');
      expect(failed.FailureReason).toMatch(/the model server for relearn-endpoint exited \(SIGKILL\), and (was replaced 3 times already|did not start again)/);
    });
    // WHEN the local services start again (the next command) THEN the endpoint serves its last config again
    const r = await project.invoke(sampleBody);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(await project.servingConfig(endpoint)).toBe(champion.champion!.endpointConfigName);
  });

  test('invoke takes the body from a file (--body-file) or standard input (--body -)', async () => {
    const direct = await project.invoke(sampleBody);
    const file = join(project.dir, 'row.json');
    writeFileSync(file, sampleBody);
    const viaFile = await project.cli(['local', 'invoke', '--body-file', 'row.json']);
    expect({ code: viaFile.code, out: viaFile.out.trim() }).toEqual({ code: 0, out: direct.answer });
    const viaStdin = await project.cli(['local', 'invoke', '--body', '-'], Readable.from([Buffer.from(sampleBody)]));
    expect({ code: viaStdin.code, out: viaStdin.out.trim() }).toEqual({ code: 0, out: direct.answer });
    // A CSV body from a file: its rows, one prediction each
    const csv = join(project.dir, 'rows.csv');
    writeFileSync(csv, readFileSync(data, 'utf8').split('\n').slice(0, 4).join('\n') + '\n');
    const rows = await project.cli(['local', 'invoke', '--body-file', 'rows.csv']);
    expect(rows.code).toBe(0);
    expect(JSON.parse(rows.out).predictions).toHaveLength(3);
    // Usage errors
    expect((await project.cli(['local', 'invoke', '--body-file', 'nope.json'])).err).toMatch(/^relearn: --body-file: no such file: .*nope\.json\n$/);
    expect((await project.cli(['local', 'invoke', '--body', '{}', '--body-file', 'row.json'])).code).toBe(2);
  });

  test('a request over SageMaker\'s 6 MB limit is refused by the local endpoint with SageMaker\'s answer (HTTP 413)', async () => {
    // GIVEN a CSV body of 7 MB (from a file: it would not fit the shell's argument list)
    const header = readFileSync(data, 'utf8').split('\n')[0];
    const row = readFileSync(data, 'utf8').split('\n')[1];
    const big = join(project.dir, 'big-body.csv');
    writeFileSync(big, header + '\n' + `${row}\n`.repeat(Math.ceil((7 * 1024 * 1024) / row.length)));
    // WHEN
    const r = await project.cli(['local', 'invoke', '--body-file', 'big-body.csv']);
    // THEN
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the request body \(.*big-body\.csv\) is \d+ bytes; SageMaker accepts at most 6291456 \(6 MB\)/);
    expect(r.err).toMatch(/InvokeEndpoint relearn-endpoint failed \(HTTP 413\): .*HTTP content length exceeded 6291456 bytes/);
    // AND a body just under the limit goes through
    const under = join(project.dir, 'under.csv');
    writeFileSync(under, header + '\n' + `${row}\n`.repeat(Math.floor((6 * 1024 * 1024 - header.length - 100) / (row.length + 1))));
    const ok = await project.cli(['local', 'invoke', '--body-file', 'under.csv']);
    expect({ code: ok.code, err: ok.err }).toEqual({ code: 0, err: '' });
  });

  test('after a run that stopped before any model existed, no invoke command is suggested', async () => {
    // GIVEN another pipeline in the same folder, whose first run stops at Ingest
    project.writeConfig('other', { ...CONFIG, name: 'other' });
    const bad = await bigCsv('bad-small.csv', 'customer_id,customer_id', 0.001);
    const { code, json, log } = await project.run({ config: 'other', data: bad, extra: ['--fresh'] });
    // THEN
    expect(code).toBe(1);
    expect(json.invoke).toBeNull();
    expect(log).not.toContain('relearn local invoke');
    expect(log).toContain('Endpoint: other-endpoint (nothing deployed yet)');
  });
});
