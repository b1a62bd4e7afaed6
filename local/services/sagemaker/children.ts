import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';

/**
 * The training and serving processes of the local SageMaker server.
 *
 * Each runs in its own session and process group (`detached`), so the terminal's Ctrl-C (SIGINT to the foreground
 * process group) reaches relearn only: a model loading or a training job is never killed by the keyboard half-way,
 * which the server would take for a crash (issue 13: an endpoint left Failed). relearn stops them deliberately
 * (stopTree: SIGTERM to the group, then SIGKILL). If this process exits without stopping them (an uncaught error,
 * process.exit on a second Ctrl-C), they are killed on the way out; if it is killed outright, the kernel stops them
 * (local/python/parent_watch.py: PR_SET_PDEATHSIG).
 */
const live = new Set<ChildProcess>();
let hooked = false;

/** Spawns a child in its own process group, tracked so that it never outlives this process. */
export function spawnChild(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  const env = { ...(opts.env ?? process.env), RELEARN_PARENT_PID: String(process.pid) };
  return track(spawn(command, args, { ...opts, env, detached: true }));
}

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) signalTree(c, 'SIGKILL');
    });
  }
  return child;
}

/** Sends `signal` to the child's process group (the child and whatever it started), or to the child alone. */
export function signalTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (child.pid !== undefined) {
      process.kill(-child.pid, signal);
      return;
    }
  } catch {
    // not a group leader (not spawned detached), or already gone
  }
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopTree(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  signalTree(child, 'SIGTERM');
  const t = setTimeout(() => signalTree(child, 'SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}
