import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ASSET_METADATA_CONTEXT } from './asl/assembly';

/**
 * Synthesizes a user's own CDK app the way the CDK CLI does (`cdk synth`): its command (`--app`, else `app` of the
 * cdk.json in its folder) runs in that folder with CDK_OUTDIR (the assembly goes to local mode's folder) and
 * CDK_CONTEXT_JSON (cdk.context.json's and cdk.json's context, then the context local mode needs: asset metadata,
 * so each Lambda resource names its code folder). Local mode then finds its RetrainingPipelines in the assembly
 * (local/asl/pipelines.ts) and runs one as it runs relearn's own app.
 */

/** The app's command failed, or there is no app to run: one line for the CLI (exit 2), the app's own words in it. */
export class AppSynthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppSynthError';
  }
}

export interface CdkApp {
  /** The folder the app runs in (the cdk.json's). */
  readonly dir: string;
  /** The command, as cdk.json or --app says it. */
  readonly command: string;
  /** Context from cdk.context.json and cdk.json (in that order of precedence: cdk.json wins). */
  readonly context: Readonly<Record<string, unknown>>;
  /** Where the command came from: `--app` or the cdk.json path. */
  readonly source: string;
}

/** The app of `dir`: `command` when given (`--app`), else cdk.json's `app`; context as the CDK CLI reads it. */
export function cdkAppOf(dir: string, command?: string): CdkApp {
  const cdkJson = join(dir, 'cdk.json');
  const settings = existsSync(cdkJson) ? (readJson(cdkJson) as { app?: unknown; context?: Record<string, unknown> }) : undefined;
  const app = command ?? settings?.app;
  if (typeof app !== 'string' || !app.trim()) {
    throw new AppSynthError(
      settings
        ? `${cdkJson} has no "app": expected the command that runs your CDK app (or pass --app "<command>")`
        : `no CDK app in ${dir}: expected a cdk.json with "app", or --app "<command>"`,
    );
  }
  const contextFile = join(dir, 'cdk.context.json');
  const context = { ...(existsSync(contextFile) ? (readJson(contextFile) as Record<string, unknown>) : {}), ...(settings?.context ?? {}) };
  return { dir, command: app, context, source: command !== undefined ? '--app' : cdkJson };
}

export interface AppSynthResult {
  readonly outdir: string;
  readonly ms: number;
}

/**
 * Runs the app's command into a fresh `outdir`. A `.js` file as the whole command runs with this node (as the CDK
 * CLI does). The app's output is passed through `onOutput`; a failure throws AppSynthError with the app's error line.
 */
export async function synthesizeApp(app: CdkApp, outdir: string, opts: { onOutput?: (chunk: string) => void; signal?: AbortSignal } = {}): Promise<AppSynthResult> {
  const started = performance.now();
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const context = { ...app.context, ...ASSET_METADATA_CONTEXT };
  const single = app.command.trim();
  const isJsFile = /^[^\s]+\.[cm]?js$/.test(single) && existsSync(isAbsolute(single) ? single : resolve(app.dir, single));
  const [cmd, args] = isJsFile ? [process.execPath, [single]] : ['/bin/sh', ['-c', app.command]];
  const output: string[] = [];
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(cmd, args, {
      cwd: app.dir,
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify(context),
        // The app's own node must not inherit local mode's flag (s3rver's), nor a NODE_OPTIONS meant for relearn.
        NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '').replace(/--openssl-legacy-provider/g, '').trim(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: an interrupt stops the whole app (`npx ts-node ...` is a tree: sh, npx, node), not
      // only the shell, whose children would hold the output pipes open until they finished on their own.
      detached: true,
    });
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      opts.onOutput?.(text);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const onAbort = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => fail(new AppSynthError(`could not run the CDK app \`${app.command}\` (${app.source}): ${err.message}`)));
    child.on('close', (status) => {
      opts.signal?.removeEventListener('abort', onAbort);
      done(status);
    });
  });
  if (code !== 0) {
    throw new AppSynthError(`the CDK app \`${app.command}\` (${app.source}) failed${code === null ? '' : ` (exit ${code})`}: ${errorLineOf(output.join(''))}`);
  }
  if (!existsSync(join(outdir, 'manifest.json'))) {
    throw new AppSynthError(`the CDK app \`${app.command}\` (${app.source}) wrote no cloud assembly to CDK_OUTDIR: does it call app.synth() (or is it an App at all)?`);
  }
  return { outdir, ms: performance.now() - started };
}

/** The line of an app's output that says what went wrong: a thrown error's `Name: message`, else the last line. */
export function errorLineOf(output: string): string {
  const lines = output.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const thrown = lines.find((l) => /^([A-Z][A-Za-z]*Error|Error)( \[[A-Z_]+\])?: /.test(l));
  return thrown ?? lines[lines.length - 1] ?? 'no output';
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AppSynthError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}
