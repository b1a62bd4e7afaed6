import { requestStart, StartRequestError } from '../start';
import { CliIO, Command, Flags, UsageError } from './common';
import { TARGET_VALUE_FLAGS, targetOf } from './target-flags';

/** `relearn start [--data s3://<data bucket>/<prefix>] [--stack <name>] [--region <r>] [--json]` (local/start.ts). */
async function run(flags: Flags, io: CliIO): Promise<number> {
  const target = await targetOf(flags, io);
  try {
    const sent = await requestStart(target, {
      ...(typeof flags.data === 'string' ? { data: flags.data } : {}),
      requestedBy: process.env.USER ?? 'relearn start',
    });
    if (flags.json === true) io.stdout.write(JSON.stringify({ requestId: sent.requestId, messageId: sent.messageId ?? null, request: sent.message }) + '\n');
    else {
      io.stdout.write(
        `${sent.message.prefix ? `asked for a run of s3://${target.dataBucket}/${sent.message.prefix}` : 'asked the trigger to start what is pending now'} (request ${sent.requestId}); ` +
          'it starts when no run is in flight: follow it with relearn status\n',
      );
    }
    return 0;
  } catch (err) {
    if (err instanceof StartRequestError) throw new UsageError(err.message);
    throw err;
  } finally {
    await target.close();
  }
}

export const startCommand: Command = {
  valueFlags: [...TARGET_VALUE_FLAGS, 'data'],
  booleanFlags: ['json'],
  run,
};
