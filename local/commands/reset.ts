import { existsSync, rmSync } from 'node:fs';
import { acquireLock, lockHolder, PipelineBusy } from '../lock';
import { pipelineDirOf, pipelineForCommand, pipelinesIn, stateDirOf } from '../project';
import { CliIO, Command, configFileOf, Flags } from './common';

/**
 * `relearn local reset`: deletes one pipeline's local state (the one --config names, else the project's), its
 * synthesized app included; `--all` deletes every pipeline's (.relearn/). Refused while a run holds the pipeline.
 */
async function run(flags: Flags, io: CliIO): Promise<number> {
  if (flags.all === true) {
    for (const name of pipelinesIn(io.cwd)) {
      const owner = lockHolder(pipelineDirOf(io.cwd, name));
      if (owner) throw new PipelineBusy(owner, name);
    }
    const dir = stateDirOf(io.cwd);
    rmSync(dir, { recursive: true, force: true });
    io.stdout.write(`removed ${dir}\n`);
    return 0;
  }
  const pipeline = pipelineForCommand(io.cwd, configFileOf(flags, io), typeof flags.pipeline === 'string' ? flags.pipeline : undefined);
  if (!existsSync(pipeline.stateDir)) {
    io.stdout.write(`pipeline "${pipeline.name}" has no local state (${pipeline.stateDir})\n`);
    return 0;
  }
  const lock = acquireLock(pipeline.stateDir, pipeline.name, 'relearn local reset');
  lock.release();
  rmSync(pipeline.stateDir, { recursive: true, force: true });
  io.stdout.write(`removed ${pipeline.stateDir} (pipeline "${pipeline.name}")\n`);
  return 0;
}

export const resetCommand: Command = {
  valueFlags: ['config', 'pipeline'],
  booleanFlags: ['all'],
  run,
};
