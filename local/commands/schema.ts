import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Layout } from '../../lambdas/shared/contracts';
import { getJsonIfExists, parseS3Uri, s3Uri } from '../../lambdas/shared/s3';
import { resolvePipeline } from '../asl/assembly';
import { PROCESS_ENV } from '../local-env';
import { artifactsBucketOf } from '../local-run';
import { writeFileAtomic } from '../atomic';
import { acquireLock } from '../lock';
import { pipelineForCommand } from '../project';
import { startLocalS3 } from '../services/s3-server';
import { CliIO, Command, configFileOf, Flags, UsageError } from './common';

/**
 * `relearn local schema`: the champion's schema (champion/current.json's schemaUri), else the schema of the last
 * run (or of --execution-name), read from the project's local S3 through the SDK. `source` is left out: a file
 * named by validation.schemaFile is read as curated.
 */
async function run(flags: Flags, io: CliIO): Promise<number> {
  const pipeline = pipelineForCommand(io.cwd, configFileOf(flags, io), typeof flags.pipeline === 'string' ? flags.pipeline : undefined);
  const { stateDir } = pipeline;
  const outdir = join(stateDir, 'cdk.out');
  if (!existsSync(join(outdir, 'manifest.json'))) throw new UsageError(`no local state for pipeline "${pipeline.name}" in ${stateDir}: run "relearn local run" first`);
  const bucket = artifactsBucketOf(resolvePipeline(outdir));
  let execution = typeof flags['execution-name'] === 'string' ? flags['execution-name'] : undefined;
  Object.assign(process.env, PROCESS_ENV);
  // The S3 state is the pipeline's: never read beside a run that is writing it.
  const lock = acquireLock(stateDir, pipeline.name, 'relearn local schema');
  const s3 = await startLocalS3({ directory: join(stateDir, 's3') }).catch((err) => {
    lock.release();
    throw err;
  });
  try {
    let uri: string | undefined;
    let what: string;
    const champion = execution ? undefined : await getJsonIfExists<{ executionName: string; schemaUri: string }>(s3.client, bucket, Layout.champion);
    if (champion) {
      uri = champion.schemaUri;
      what = `the champion's schema (${champion.executionName})`;
    } else {
      const lastRun = join(stateDir, 'last-run.json');
      execution ??= existsSync(lastRun) ? (JSON.parse(readFileSync(lastRun, 'utf8')) as { executionName?: string }).executionName : undefined;
      if (!execution) throw new UsageError('no champion and no run known: run "relearn local run" first, or pass --execution-name <name>');
      uri = s3Uri(bucket, `${Layout.validation(execution)}schema.json`);
      what = `the schema of ${execution}`;
    }
    const { bucket: b, key } = parseS3Uri(uri);
    const schema = await getJsonIfExists<Record<string, unknown>>(s3.client, b, key);
    if (!schema) throw new UsageError(`${uri} does not exist: did ${execution ?? 'that run'} reach ValidateData?`);
    const { source: _source, ...curated } = schema;
    const text = JSON.stringify(curated, null, 2) + '\n';
    if (typeof flags.out === 'string') {
      const file = resolve(io.cwd, flags.out);
      writeFileAtomic(file, text);
      io.stdout.write(
        `wrote ${file}: ${what}, from ${uri}\n` +
          `edit it and name it in the config, relative to the config file's folder: { "validation": { "schemaFile": "${basename(file)}" } }\n`,
      );
    } else {
      io.stdout.write(text);
      io.stderr.write(`${what}, from ${uri}\n`);
    }
    return 0;
  } finally {
    await s3.stop();
    lock.release();
  }
}

export const schemaCommand: Command = {
  valueFlags: ['out', 'execution-name', 'config', 'pipeline'],
  run,
};
