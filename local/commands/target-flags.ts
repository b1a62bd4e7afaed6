import { localTarget, PipelineTarget, awsTarget } from '../target';
import { openPipeline } from '../project';
import { configFileOf, Flags } from './common';
import type { CliIO } from './common';

/**
 * The flags every command against a pipeline shares (status, start): `--local` for the project's local pipeline,
 * else the deployed stack `--stack` (default `<config name>-pipeline`) in `--region` (default the SDK's).
 */
export const TARGET_VALUE_FLAGS = ['stack', 'region', 'config'] as const;
export const TARGET_BOOLEAN_FLAGS = ['local'] as const;

export async function targetOf(flags: Flags, io: CliIO): Promise<PipelineTarget> {
  const configFile = configFileOf(flags, io);
  if (flags.local === true) return localTarget({ projectDir: io.cwd, ...(configFile ? { configFile } : {}) });
  const name = typeof flags.stack === 'string' ? undefined : openPipeline({ projectDir: io.cwd, ...(configFile ? { configFile } : {}) }).name;
  return awsTarget({
    ...(name ? { name } : {}),
    ...(typeof flags.stack === 'string' ? { stackName: flags.stack } : {}),
    ...(typeof flags.region === 'string' ? { region: flags.region } : {}),
  });
}
