import { resetState, stateDirOf } from '../local-run';
import { CliIO, Command } from './common';

/** `relearn local reset`: deletes the local state. */
export const resetCommand: Command = {
  async run(_flags, io: CliIO) {
    resetState(io.cwd);
    io.stdout.write(`removed ${stateDirOf(io.cwd)}\n`);
    return 0;
  },
};
