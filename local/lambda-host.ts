import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { LocalFunction } from './asl/assembly';

/**
 * Runs a bundled Lambda handler (the esbuild output `cdk synth` produced) in this process, the way the Lambda
 * service would: its own environment variables set for the duration of the call, a Lambda context object,
 * the payload and result passed through JSON, its configured timeout enforced, and a thrown error reported
 * as Lambda reports it (error type = the error's `name`, so Step Functions' Retry/Catch match on it).
 *
 * process.env is global, so invocations of different functions never overlap: each one waits until the
 * functions running with another environment have finished. Invocations of the same function (a Map state's
 * iterations) run concurrently, like concurrent Lambda instances.
 */

export type LambdaFn = (event: unknown, context: Record<string, unknown>) => unknown;

/** An error as Step Functions sees a failed Lambda invocation: name = errorType, message = the Cause JSON. */
export class LambdaInvocationError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
    trace: string[] = [],
  ) {
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
  }
}

/** The Cause of a failed Lambda task, parsed back into type and message when it has Lambda's shape. */
export function parseCause(cause: unknown): { errorType?: string; errorMessage: string } {
  if (typeof cause !== 'string') return { errorMessage: cause === undefined ? '' : JSON.stringify(cause) };
  try {
    const parsed = JSON.parse(cause) as { errorType?: string; errorMessage?: string };
    if (parsed && typeof parsed === 'object' && typeof parsed.errorMessage === 'string') {
      return { errorType: parsed.errorType, errorMessage: parsed.errorMessage };
    }
  } catch {
    // not JSON: a plain message
  }
  return { errorMessage: cause };
}

export interface LambdaHostOptions {
  /** Variables every function gets on top of its own (local endpoints, region, checksum settings). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The credentials a function runs with, as Lambda gives it its execution role's temporary credentials
   * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Local mode hands out one session per function
   * role (local/iam/identities.ts), so the local servers apply that role's policies.
   * @default - whatever `env` and the process carry
   */
  readonly credentialsFor?: (fn: LocalFunction) => { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

export class LambdaHost {
  private readonly modules = new Map<string, Promise<LambdaFn>>();
  private readonly baseline = new Map<string, string | undefined>();
  private applied = new Set<string>();
  private current?: string;
  private active = 0;
  private waiting: (() => void)[] = [];

  constructor(private readonly opts: LambdaHostOptions = {}) {}

  /** Invokes `fn` with `payload`; resolves with its (JSON round-tripped) result or rejects with a LambdaInvocationError. */
  async invoke(fn: LocalFunction, payload: unknown): Promise<unknown> {
    const handler = await this.load(fn);
    const event = payload === undefined ? {} : JSON.parse(JSON.stringify(payload));
    await this.enter(fn);
    const requestId = randomUUID();
    const deadline = Date.now() + fn.timeoutSeconds * 1000;
    const context = {
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: fn.arn,
      memoryLimitInMB: String(fn.memoryMb),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${fn.name}`,
      logStreamName: `local/${requestId}`,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      // The handler's synchronous start (where relearn handlers read their environment) runs right here,
      // while this function's environment is set.
      const call = Promise.resolve().then(() => handler(event, context));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new LambdaInvocationError('Sandbox.Timedout', `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`)),
          fn.timeoutSeconds * 1000,
        );
      });
      const result = await Promise.race([call, timeout]);
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } catch (err) {
      if (err instanceof LambdaInvocationError) throw err;
      const e = err as { name?: unknown; message?: unknown; stack?: unknown };
      const name = typeof e?.name === 'string' && e.name ? e.name : 'Error';
      const message = typeof e?.message === 'string' ? e.message : String(err);
      const trace = typeof e?.stack === 'string' ? e.stack.split('\n') : [];
      throw new LambdaInvocationError(name, message, trace);
    } finally {
      clearTimeout(timer);
      this.leave();
    }
  }

  /** Puts back every variable any invocation changed. Call once the execution is over. */
  restoreEnv(): void {
    for (const [k, v] of this.baseline) setVar(k, v);
    this.baseline.clear();
    this.applied.clear();
    this.current = undefined;
  }

  private envFor(fn: LocalFunction): Record<string, string> {
    const creds = this.opts.credentialsFor?.(fn);
    return {
      ...fn.environment,
      ...(this.opts.env ?? {}),
      ...(creds
        ? { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}) }
        : {}),
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    };
  }

  private applyEnv(vars: Record<string, string>): void {
    for (const k of this.applied) {
      if (!(k in vars)) setVar(k, this.baseline.get(k));
    }
    for (const [k, v] of Object.entries(vars)) {
      if (!this.baseline.has(k)) this.baseline.set(k, realProcess.env[k]);
      setVar(k, v);
    }
    this.applied = new Set(Object.keys(vars));
  }

  private async enter(fn: LocalFunction): Promise<void> {
    while (this.active > 0 && this.current !== fn.arn) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.current !== fn.arn || this.active === 0) this.applyEnv(this.envFor(fn));
    this.current = fn.arn;
    this.active++;
  }

  private leave(): void {
    this.active--;
    if (this.active === 0) this.waiting.splice(0).forEach((wake) => wake());
  }

  private load(fn: LocalFunction): Promise<LambdaFn> {
    let loaded = this.modules.get(fn.bundlePath + '#' + fn.exportName);
    if (!loaded) {
      loaded = (async () => {
        // Module-level code (loggers, clients) reads the environment on load: load with the function's own.
        await this.enter(fn);
        try {
          const mod = (fn.bundlePath.endsWith('.mjs') ? await importEsm(pathToFileURL(fn.bundlePath).href) : nodeRequire(fn.bundlePath)) as Record<string, unknown>;
          const exported = mod[fn.exportName] ?? (mod.default as Record<string, unknown> | undefined)?.[fn.exportName];
          if (typeof exported !== 'function') {
            throw new Error(`${fn.logicalId}: ${fn.bundlePath} exports no function ${fn.exportName} (exports: ${Object.keys(mod).join(', ')})`);
          }
          return exported as LambdaFn;
        } finally {
          this.leave();
        }
      })();
      this.modules.set(fn.bundlePath + '#' + fn.exportName, loaded);
    }
    return loaded;
  }
}

// Bundles are loaded by Node's own module loader, also when the caller runs under a test runner: jest gives
// test code its own `require` (a vm context without dynamic import(), which the SDK's HTTP handler uses) and
// its own copy of `process`. Module._load is Node's loader; 'process' loaded through it is the real process,
// whose environment the bundles read. Outside jest both are simply the usual ones.
const NodeModule = require('node:module') as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown; _cache: Record<string, unknown> };
/** Loads a fresh copy: each LambdaHost (each execution) gets cold starts, as after a deploy, so clients that
 *  a bundle created once per process never point at the services of an earlier run. */
const nodeRequire = (path: string): unknown => {
  delete NodeModule._cache[path];
  return NodeModule._load(path, null, false);
};
const realProcess = NodeModule._load('process', null, false) as NodeJS.Process;
const envs = realProcess.env === process.env ? [process.env] : [process.env, realProcess.env];
const setVar = (k: string, v: string | undefined) => {
  for (const env of envs) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
};

// A real dynamic import, which TypeScript's CommonJS output would otherwise turn into require().
const importEsm = new Function('p', 'return import(p)') as (p: string) => Promise<unknown>;
