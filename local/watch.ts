import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { RunManifest } from '../lambdas/shared/contracts';
import { resolvePipeline } from './asl/assembly';
import { writeFileAtomic } from './atomic';
import { iamModelOf } from './iam/template';
import { cleanUpInterruptedRun } from './interrupt';
import { LambdaHost } from './lambda-host';
import { functionCredentials, iamEnforcedByEnv, LocalServices, provision, startLocalServices, uploadData } from './local-env';
import { artifactsBucketOf } from './local-run';
import { acquireLock } from './lock';
import { adoptLegacyState, LocalPipeline, openPipeline } from './project';
import { synthesize } from './synth';
import { LocalTrigger, pipelineRunner, resolveTrigger } from './trigger-runtime';

/**
 * `relearn local watch` as a function: the pipeline's local services with the trigger path of the synthesized
 * template running (local/trigger-runtime.ts: the EventBridge rule, the queue with its DLQ, the event source
 * mapping and the bundled trigger Lambda, each function as its own role), and a folder on disk, the local landing
 * zone, mirrored into the data bucket under `incoming/`. A file dropped there becomes an S3 object, its
 * object-created event goes through the same rule, queue and trigger core as in the cloud, and the trigger starts
 * the runs (real executions of the synthesized state machine) that the cloud would start.
 *
 * A file is uploaded once its size and modification time held still for one scan (a file being written is not
 * taken half-way); dotfiles and names ending in `.tmp`, `.part`, `.crdownload` or `~` are left alone. What was
 * uploaded is remembered (`<state>/watch/landed.json`), so a restart uploads only what changed meanwhile.
 */

export interface WatchOptions {
  /** The project folder (state in `.relearn/pipelines/<name>`). @default process.cwd() */
  readonly projectDir?: string;
  /** A config object (tests); wins over configFile. */
  readonly config?: unknown;
  readonly configFile?: string;
  /** The landing folder. @default `<projectDir>/landing` */
  readonly dir?: string;
  readonly python?: string;
  /** @default on, unless RELEARN_NO_IAM=1 */
  readonly enforceIam?: boolean;
  /** Wait states longer than this wait this long locally. @default 1 */
  readonly maxWaitSeconds?: number;
  /** How often the folder is scanned. @default 250 */
  readonly scanIntervalMs?: number;
  /** The handlers' log level. @default ERROR */
  readonly logLevel?: string;
  readonly onEvent?: (e: WatchEvent) => void;
}

export type WatchEvent =
  | {
      readonly type: 'ready';
      readonly dir: string;
      readonly bucket: string;
      readonly mode: 'quiet' | 'marker';
      readonly quietPeriodSeconds: number;
      readonly maxWaitSeconds: number;
      readonly enforceIam: boolean;
    }
  | { readonly type: 'landed'; readonly file: string; readonly key: string; readonly size: number; readonly at: number }
  | { readonly type: 'batch'; readonly records: number; readonly failed: number; readonly ms: number; readonly error?: string }
  | { readonly type: 'run-started'; readonly run: WatchRun }
  | { readonly type: 'run-ended'; readonly run: WatchRun };

/** An execution the trigger started while watching. */
export interface WatchRun {
  readonly executionName: string;
  readonly reason?: string;
  /** The objects of its manifest. */
  readonly keys: readonly string[];
  readonly startedAt: number;
  /** From the last object landed before it (its PutObject done) to the execution's start. */
  readonly sinceLastObjectMs?: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  endedAt?: number;
  error?: { readonly Error: string; readonly Cause?: string };
}

export interface WatchSession {
  readonly pipeline: LocalPipeline;
  readonly dir: string;
  readonly dataBucket: string;
  readonly artifactsBucket: string;
  readonly services: LocalServices;
  readonly trigger: LocalTrigger;
  readonly runs: readonly WatchRun[];
  /** Stops watching: running executions are aborted and cleaned up as an interrupted `relearn local run` is. */
  stop(): Promise<void>;
}

/** Names a producer writes before renaming them into place. */
const IN_PROGRESS = /(^\.)|(\.tmp$)|(\.part$)|(\.crdownload$)|(~$)/;

export async function startWatch(opts: WatchOptions = {}): Promise<WatchSession> {
  const projectDir = resolve(opts.projectDir ?? process.cwd());
  const pipeline = openPipeline({ projectDir, ...(opts.config !== undefined ? { config: opts.config } : {}), ...(opts.configFile ? { configFile: opts.configFile } : {}) });
  const dir = resolve(projectDir, opts.dir ?? 'landing');
  mkdirSync(dir, { recursive: true });
  mkdirSync(pipeline.stateDir, { recursive: true });
  const lock = acquireLock(pipeline.stateDir, pipeline.name, 'relearn local watch');
  let services: LocalServices | undefined;
  try {
    adoptLegacyState(pipeline.projectDir, pipeline.name);
    const synth = synthesize({ stateDir: pipeline.stateDir, config: pipeline.config, appRoot: pipeline.baseDir });
    const resolved = resolvePipeline(synth.outdir);
    const resources = resolveTrigger(synth.outdir);
    const iam = iamModelOf(synth.outdir);
    const enforceIam = opts.enforceIam ?? iamEnforcedByEnv();
    services = await startLocalServices({ stateDir: pipeline.stateDir, ...(opts.python ? { python: opts.python } : {}), iam, enforceIam });
    const s3 = services.s3.client;
    await provision(resolved, s3, services.sagemakerClient);
    const dataBucket = resources.function.environment.DATA_BUCKET;
    const artifactsBucket = artifactsBucketOf(resolved);

    // Every function (the trigger and the stages) runs as its own role, in one host: one process environment.
    const svc = services;
    const credentialsFor = functionCredentials(services);
    const env = { ...services.env, POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'ERROR' };
    const host = new LambdaHost({ env, credentialsFor });

    const runs: WatchRun[] = [];
    let lastLandedAt: number | undefined;
    const emit = (e: WatchEvent) => {
      try {
        opts.onEvent?.(e);
      } catch {
        // a listener's error is its own
      }
    };
    const runner = pipelineRunner(resolved, { host, maxWaitSeconds: opts.maxWaitSeconds ?? 1 });
    services.stepFunctions.sfn.register(resources.stateMachineArn, async (run) => {
      const startedAt = Date.now();
      const manifest = await readManifest(svc, (run.input as { source?: { manifest?: string } })?.source?.manifest);
      const record: WatchRun = {
        executionName: run.executionName,
        ...(manifest ? { reason: manifest.reason } : {}),
        keys: manifest?.objects.map((o) => o.key) ?? [],
        startedAt,
        ...(lastLandedAt !== undefined ? { sinceLastObjectMs: startedAt - lastLandedAt } : {}),
        status: 'RUNNING',
      };
      runs.push(record);
      lock.setExecution(run.executionName);
      emit({ type: 'run-started', run: record });
      const outcome = await runner(run);
      record.status = outcome.status;
      record.endedAt = Date.now();
      if (outcome.error) record.error = outcome.error;
      if (outcome.status === 'ABORTED') {
        await cleanUpInterruptedRun({ pipeline: resolved, env, credentialsFor, s3, sagemaker: svc.sagemakerClient, artifactsBucket, executionName: run.executionName, startedAt: new Date(startedAt).toISOString() }).catch(() => []);
      }
      emit({ type: 'run-ended', run: record });
      return outcome;
    });

    const trigger = new LocalTrigger({ resources, sqs: services.sqs.sqs, sfn: services.stepFunctions.sfn, host, onBatch: (b) => emit({ type: 'batch', ...b }) });
    services.s3.onEvent((e) => trigger.objectCreated(e));
    trigger.start();
    trigger.startSchedule();
    emit({
      type: 'ready',
      dir,
      bucket: dataBucket,
      mode: pipeline.config.trigger.mode,
      quietPeriodSeconds: pipeline.config.trigger.quietPeriodSeconds,
      maxWaitSeconds: pipeline.config.trigger.maxWaitSeconds,
      enforceIam,
    });

    const landedFile = join(pipeline.stateDir, 'watch', 'landed.json');
    const watcher = new LandingWatcher(dir, landedFile, async (file, relativeKey, size) => {
      const [{ key }] = await uploadData(s3, dataBucket, [{ file, relativeKey, size }], 'incoming/');
      lastLandedAt = Date.now();
      emit({ type: 'landed', file, key, size, at: lastLandedAt });
    });
    watcher.start(opts.scanIntervalMs ?? 250);

    let stopped = false;
    return {
      pipeline,
      dir,
      dataBucket,
      artifactsBucket,
      services,
      trigger,
      runs,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        try {
          await watcher.stop();
          await trigger.stop();
          const sfn = svc.stepFunctions.sfn;
          for (const e of sfn.list(resources.stateMachineArn, 'RUNNING')) sfn.stop(e.executionArn);
          await sfn.drain();
          host.restoreEnv();
        } finally {
          await svc.stop();
          lock.release();
        }
      },
    };
  } catch (err) {
    await services?.stop();
    lock.release();
    throw err;
  }
}

async function readManifest(services: LocalServices, uri: string | undefined): Promise<RunManifest | undefined> {
  const m = uri ? /^s3:\/\/([^/]+)\/(.+)$/.exec(uri) : null;
  if (!m) return undefined;
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    const res = await services.s3.client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
    return JSON.parse(await res.Body!.transformToString()) as RunManifest;
  } catch {
    return undefined;
  }
}

/** What was uploaded of a file: a file is uploaded again only when one of these changed. */
interface Landed {
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Scans a folder; a file whose size and mtime held still since the previous scan, and differ from what was last
 * uploaded of it, is handed to `upload` (one at a time, in path order).
 */
export class LandingWatcher {
  private timer?: NodeJS.Timeout;
  private previous = new Map<string, Landed>();
  private readonly landed: Record<string, Landed>;
  private scanning?: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly landedFile: string,
    private readonly upload: (file: string, relativeKey: string, size: number) => Promise<void>,
  ) {
    this.landed = existsSync(landedFile) ? (JSON.parse(readFileSync(landedFile, 'utf8')) as Record<string, Landed>) : {};
  }

  start(intervalMs: number): void {
    const tick = () => {
      this.scanning = this.scan()
        .catch(() => undefined)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.scanning;
  }

  /** One scan: uploads what is ready. */
  async scan(): Promise<void> {
    const now = new Map<string, Landed>();
    const walk = (d: string) => {
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return; // removed while scanning
      }
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        if (IN_PROGRESS.test(e.name)) continue;
        const full = join(d, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.isFile()) {
          try {
            const st = statSync(full);
            now.set(full, { size: st.size, mtimeMs: st.mtimeMs });
          } catch {
            // removed while scanning
          }
        }
      }
    };
    walk(this.dir);
    for (const [file, seen] of now) {
      const before = this.previous.get(file);
      if (!before || before.size !== seen.size || before.mtimeMs !== seen.mtimeMs) continue; // still changing (or new)
      const rel = relative(this.dir, file).split(sep).join('/');
      const done = this.landed[rel];
      if (done && done.size === seen.size && done.mtimeMs === seen.mtimeMs) continue;
      await this.upload(file, rel, seen.size);
      this.landed[rel] = seen;
      mkdirSync(join(this.landedFile, '..'), { recursive: true });
      writeFileAtomic(this.landedFile, JSON.stringify(this.landed, null, 1));
    }
    this.previous = now;
  }
}
