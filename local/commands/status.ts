import { collectStatus, formatStatus } from '../status';
import { CliIO, Command, Flags, UsageError } from './common';
import { TARGET_BOOLEAN_FLAGS, TARGET_VALUE_FLAGS, targetOf } from './target-flags';

/** `relearn status [--local] [--stack <name>] [--region <r>] [--limit <n>] [--json]` (local/status.ts). */
async function run(flags: Flags, io: CliIO): Promise<number> {
  let limit = 10;
  if (typeof flags.limit === 'string') {
    limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new UsageError(`--limit must be a whole number from 1 to 100, but got ${flags.limit}`);
  }
  const target = await targetOf(flags, io);
  try {
    const report = await collectStatus(target, { limit });
    io.stdout.write(flags.json === true ? JSON.stringify(report) + '\n' : formatStatus(report));
    return 0;
  } finally {
    await target.close();
  }
}

export const statusCommand: Command = {
  valueFlags: [...TARGET_VALUE_FLAGS, 'limit'],
  booleanFlags: [...TARGET_BOOLEAN_FLAGS, 'json'],
  run,
};
