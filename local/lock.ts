import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic';

/**
 * One run at a time per pipeline: `relearn local run` (and every command that starts the pipeline's local
 * services) holds `<pipeline state>/lock` while it works. Two runs on one state would both train, both register
 * "version 2" and overwrite each other's records (issue 13); in the cloud the single-flight trigger does this job.
 *
 * The lock file names its owner: pid, the process's start time (so a recycled pid is not mistaken for the owner),
 * the host, the command and, once it has one, the execution. A lock whose owner is gone (the process died, the
 * machine restarted) is stale and taken over.
 */

export interface LockOwner {
  readonly pid: number;
  /** The owner process's start time (Linux: /proc/<pid>/stat field 22, clock ticks since boot), if known. */
  readonly processStart?: string;
  readonly host: string;
  /** What holds it: `relearn local run`, `relearn local invoke`, ... */
  readonly command: string;
  readonly since: string;
  readonly executionName?: string;
}

/** The pipeline is in use by another live process: the message names it and what it runs. */
export class PipelineBusy extends Error {
  constructor(
    readonly owner: LockOwner,
    readonly pipeline: string,
  ) {
    const what = owner.executionName ? `execution ${owner.executionName} is running` : `"${owner.command}" is running`;
    super(
      `pipeline "${pipeline}" is busy: ${what} (pid ${owner.pid} on ${owner.host}, since ${owner.since}); ` +
        'one run at a time per pipeline: wait for it to end, or stop it (Ctrl-C in its terminal)',
    );
    this.name = 'PipelineBusy';
  }
}

export interface PipelineLock {
  readonly file: string;
  /** Names the execution in the lock (what a refused second run prints). */
  setExecution(executionName: string): void;
  /** Removes the lock if this process still owns it. Idempotent. */
  release(): void;
}

/** The start time of a live process, or undefined when it is not running (or this system has no /proc). */
export function processStartOf(pid: number): string | undefined | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall
  } catch {
    if (!existsSync('/proc/self/stat')) return null; // no /proc: cannot tell
    return undefined;
  }
}

/** Whether `owner` is a live process on this host (a lock from another host is taken as live: it cannot be checked). */
export function ownerAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  const start = processStartOf(owner.pid);
  if (start === null) {
    try {
      process.kill(owner.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return start !== undefined && (owner.processStart === undefined || owner.processStart === start);
}

function readOwner(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return undefined; // gone meanwhile, or unreadable: treated as stale
  }
}

/** Who holds the pipeline's lock now, if a live process does. */
export function lockHolder(stateDir: string): LockOwner | undefined {
  const owner = readOwner(join(stateDir, 'lock'));
  return owner && ownerAlive(owner) ? owner : undefined;
}

const held = new Set<PipelineLock>();
let exitHooked = false;

/**
 * Takes the pipeline's lock, or throws PipelineBusy naming the live owner. The lock file is created whole
 * (written aside, then hard-linked into place: link fails if the file exists), so two processes racing for it
 * cannot both win, and a stale lock is moved aside before it is replaced.
 */
export function acquireLock(stateDir: string, pipeline: string, command: string): PipelineLock {
  const file = join(stateDir, 'lock');
  const me: LockOwner = {
    pid: process.pid,
    ...(processStartOf(process.pid) ? { processStart: processStartOf(process.pid)! } : {}),
    host: hostname(),
    command,
    since: new Date().toISOString(),
  };
  let current = me;
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(me, null, 2));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readOwner(file);
      if (owner && ownerAlive(owner)) throw new PipelineBusy(owner, pipeline);
      if (attempt >= 3) throw new PipelineBusy(owner ?? me, pipeline);
      // Stale: move it aside (only one racer can), and check that what was moved is the stale lock read above.
      const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
      try {
        renameSync(file, aside);
      } catch {
        continue; // someone else moved it first
      }
      const moved = readOwner(aside);
      if (moved && ownerAlive(moved)) {
        // A live owner's fresh lock was moved by mistake: put it back (link: never over a newer one).
        try {
          linkSync(aside, file);
        } finally {
          rmSync(aside, { force: true });
        }
        throw new PipelineBusy(moved, pipeline);
      }
      rmSync(aside, { force: true });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  const lock: PipelineLock = {
    file,
    setExecution(executionName) {
      current = { ...current, executionName };
      if (held.has(lock)) writeFileAtomic(file, JSON.stringify(current, null, 2));
    },
    release() {
      if (!held.delete(lock)) return;
      const owner = readOwner(file);
      if (owner && owner.pid === process.pid && owner.since === me.since) rmSync(file, { force: true });
    },
  };
  held.add(lock);
  if (!exitHooked) {
    exitHooked = true;
    // process.exit (a second Ctrl-C) skips finally blocks: the lock still goes.
    process.once('exit', () => {
      for (const l of [...held]) l.release();
    });
  }
  return lock;
}
