import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A real `node bin/relearn.js ...` process, started as a user's shell starts it: in its own process group (a
 * terminal's foreground job), so a test can send the group SIGINT as Ctrl-C does, or SIGTERM as `kill -- -<pgid>`
 * does. Every process that ever descends from it (the re-run node, training and serving processes, whatever their
 * process group) is recorded while it runs, so that "no process is left" can be checked after it exits.
 */

export const BIN = join(__dirname, '..', '..', 'bin', 'relearn.js');

interface Seen {
  readonly pid: number;
  readonly start: string;
  readonly cmd: string;
}

function stat(pid: number): { ppid: number; start: string; state: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]), start: f[19] };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

export class RelearnProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private output = '';
  private readonly seen = new Map<number, Seen>();
  private readonly timer: NodeJS.Timeout;

  /**
   * `direct`: node already has --openssl-legacy-provider (NODE_OPTIONS), so bin/relearn.js runs the CLI in this very
   * process, in the terminal's process group with everything it starts. Otherwise, as `npx relearn` runs it: node
   * without the flag, so bin/relearn.js re-runs itself with it.
   */
  constructor(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; direct?: boolean }) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NODE_OPTIONS: opts.direct ? '--openssl-legacy-provider' : '', ...opts.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.timer = setInterval(() => this.scan(), 50);
    void this.exited.then(() => clearInterval(this.timer));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get text(): string {
    return this.output;
  }

  /** Records every live descendant of the root process. */
  private scan(): void {
    const children = new Map<number, number[]>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const s = stat(Number(name));
      if (!s) continue;
      const list = children.get(s.ppid) ?? [];
      list.push(Number(name));
      children.set(s.ppid, list);
    }
    const todo = [this.pid];
    while (todo.length) {
      const pid = todo.pop()!;
      for (const c of children.get(pid) ?? []) {
        const s = stat(c);
        const known = this.seen.get(c);
        // A process just forked still shows its parent's command line until it execs: read it again each time.
        if (s && (!known || known.start === s.start)) this.seen.set(c, { pid: c, start: s.start, cmd: cmdline(c) || known?.cmd || '' });
        todo.push(c);
      }
    }
  }

  /** The descendants seen so far whose command line matches. */
  descendants(match: RegExp = /./): Seen[] {
    this.scan();
    return [...this.seen.values()].filter((s) => match.test(s.cmd));
  }

  /** Descendants that are still running (same pid and start time, not a zombie). */
  survivors(): Seen[] {
    return [...this.seen.values()].filter((s) => {
      const now = stat(s.pid);
      return now !== undefined && now.start === s.start && now.state !== 'Z';
    });
  }

  /** Resolves once `until()` is true (checked every 50 ms); rejects after `timeoutMs`, or if the process exits first. */
  async waitFor(what: string, until: () => boolean, timeoutMs = 300000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void this.exited.then(() => (done = true));
    for (;;) {
      if (until()) return;
      if (done) throw new Error(`relearn exited before ${what}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal to the whole process group, as a terminal's Ctrl-C (SIGINT) or `kill -TERM -- -<pgid>` does. */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }

  /** Kills everything this process started (a test's own cleanup). */
  killAll(): void {
    clearInterval(this.timer);
    for (const s of this.survivors()) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
