import type { ChildProcess } from 'node:child_process';

/**
 * Every training and serving process this Node process started. If the process exits without `stop()`
 * (an uncaught error, process.exit in a CLI), they are killed on the way out instead of being left orphaned
 * with their ports open.
 */
const live = new Set<ChildProcess>();
let hooked = false;

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  return child;
}
