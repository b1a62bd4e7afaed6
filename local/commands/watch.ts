import { resolve } from 'node:path';
import { parseCause } from '../lambda-host';
import { displayPath } from '../project';
import { startWatch, WatchEvent } from '../watch';
import { CliIO, Command, findPythonWithSklearn, Flags, UsageError } from './common';

/**
 * `relearn local watch`: the local landing zone (a folder) mirrored into the data bucket, and the trigger path of the
 * synthesized template starting runs as the cloud would (local/watch.ts, docs/local-mode.md). Runs until Ctrl-C.
 */

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function line(e: WatchEvent, cwd: string): string | undefined {
  const t = new Date().toISOString().slice(11, 19);
  switch (e.type) {
    case 'ready': {
      const when =
        e.mode === 'quiet'
          ? `a run starts once arrivals pause for ${e.quietPeriodSeconds} s (at the latest ${e.maxWaitSeconds} s after the first)`
          : 'a run starts when a _SUCCESS or manifest.json marker lands, and takes what it covers';
      return `${t} watching ${displayPath(e.dir, cwd)} -> s3://${e.bucket}/incoming/ (trigger mode ${e.mode}: ${when}; IAM ${e.enforceIam ? 'enforced' : 'NOT enforced'}). Ctrl-C to stop.`;
    }
    case 'landed':
      return `${t} landed  ${e.key} (${e.size} bytes)`;
    case 'batch':
      return e.failed > 0 ? `${t} trigger: ${e.failed} of ${e.records} message(s) come back later${e.error ? ` (${e.error.split('\n')[0].slice(0, 200)})` : ''}` : undefined;
    case 'run-started':
      return `${t} started ${e.run.executionName} (${e.run.reason ?? 'by hand'}, ${e.run.keys.length} object(s)${e.run.sinceLastObjectMs !== undefined ? `, ${seconds(e.run.sinceLastObjectMs)} after the last object landed` : ''})`;
    case 'run-ended': {
      const took = e.run.endedAt !== undefined ? ` in ${seconds(e.run.endedAt - e.run.startedAt)}` : '';
      const why = e.run.error ? `: ${e.run.error.Error} ${parseCause(e.run.error.Cause).errorMessage.split('\n')[0].slice(0, 300)}` : '';
      return `${t} ended   ${e.run.executionName} ${e.run.status}${took}${why}`;
    }
  }
}

async function run(flags: Flags, io: CliIO): Promise<number> {
  let maxWaitSeconds: number | undefined;
  if (typeof flags['max-wait'] === 'string') {
    maxWaitSeconds = Number(flags['max-wait']);
    if (!Number.isFinite(maxWaitSeconds) || maxWaitSeconds < 0) throw new UsageError(`--max-wait must be a number of seconds >= 0, but got ${flags['max-wait']}`);
  }
  const python = findPythonWithSklearn();
  const json = flags.json === true;
  const session = await startWatch({
    projectDir: io.cwd,
    ...(typeof flags.config === 'string' ? { configFile: resolve(io.cwd, flags.config) } : {}),
    ...(typeof flags.dir === 'string' ? { dir: resolve(io.cwd, flags.dir) } : {}),
    ...(flags['no-iam'] === true ? { enforceIam: false } : {}),
    ...(maxWaitSeconds !== undefined ? { maxWaitSeconds } : {}),
    python,
    logLevel: flags.verbose ? 'INFO' : 'ERROR',
    // --json: one JSON object per event on stdout (for scripts); else one line each.
    onEvent: (e) => {
      if (json) io.stdout.write(JSON.stringify(e) + '\n');
      else {
        const text = line(e, io.cwd);
        if (text) io.stdout.write(text + '\n');
      }
    },
  });
  await new Promise<void>((done) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const onSignal = () => {
      for (const s of signals) process.off(s, onSignal);
      io.stderr.write('\nstopping: runs in flight are aborted and cleaned up\n');
      done();
    };
    for (const s of signals) process.on(s, onSignal);
  });
  await session.stop();
  return 0;
}

export const watchCommand: Command = {
  valueFlags: ['config', 'dir', 'max-wait'],
  booleanFlags: ['json', 'verbose', 'no-iam'],
  run,
};
