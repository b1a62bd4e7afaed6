import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../local/atomic';
import { acquireLock, lockHolder, PipelineBusy, processStartOf } from '../local/lock';

/** One run at a time per pipeline (issue 13): the lock, its owner, the stale-lock rule, atomic writes. */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'relearn-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the pipeline lock', () => {
  test('a second holder is refused with a message naming the running execution; release frees it', () => {
    // GIVEN a run that holds the lock and has started its execution
    const first = acquireLock(dir, 'churn', 'relearn local run');
    first.setExecution('local-20261129T093224Z-714c');
    // WHEN another command wants it
    let err: unknown;
    try {
      acquireLock(dir, 'churn', 'relearn local run');
    } catch (e) {
      err = e;
    }
    // THEN it is refused, naming the pipeline, the execution and the process
    expect(err).toBeInstanceOf(PipelineBusy);
    expect((err as Error).message).toBe(
      `pipeline "churn" is busy: execution local-20261129T093224Z-714c is running (pid ${process.pid} on ${hostname()}, since ${(err as PipelineBusy).owner.since}); ` +
        'one run at a time per pipeline: wait for it to end, or stop it (Ctrl-C in its terminal)',
    );
    expect(lockHolder(dir)?.executionName).toBe('local-20261129T093224Z-714c');
    // WHEN the first one ends
    first.release();
    // THEN the lock is gone and can be taken again
    expect(existsSync(join(dir, 'lock'))).toBe(false);
    acquireLock(dir, 'churn', 'relearn local run').release();
  });

  test('a lock left by a process that died is stale and taken over', () => {
    // GIVEN a lock written by a process that has exited since
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(dead.stdout);
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid, processStart: '1', host: hostname(), command: 'relearn local run', since: '2026-01-01T00:00:00Z', executionName: 'local-old' }));
    expect(lockHolder(dir)).toBeUndefined();
    // WHEN a run starts
    const lock = acquireLock(dir, 'churn', 'relearn local run');
    // THEN it owns the lock now, and no stale copy is left behind
    expect(JSON.parse(readFileSync(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
    expect(readdirSync(dir)).toEqual(['lock']);
    lock.release();
  });

  test('a recycled pid (alive, but started at another time) is not the owner', () => {
    // GIVEN a lock naming this very pid, but with another process start time
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: process.pid, processStart: '1', host: hostname(), command: 'relearn local run', since: '2026-01-01T00:00:00Z' }));
    expect(processStartOf(process.pid)).not.toBe('1');
    // THEN it is stale
    expect(lockHolder(dir)).toBeUndefined();
    acquireLock(dir, 'churn', 'relearn local run').release();
  });

  test('a live process in another node holds the lock until it exits', async () => {
    // GIVEN another process holding the lock
    const holder = spawn(process.execPath, [
      '-r',
      require.resolve('tsx/cjs'),
      '-e',
      `const { acquireLock } = require(${JSON.stringify(join(__dirname, '..', 'local', 'lock.ts'))});` +
        `acquireLock(${JSON.stringify(dir)}, 'churn', 'relearn local run').setExecution('local-other');` +
        'process.stdout.write("held\\n"); setTimeout(() => {}, 60000);',
    ]);
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      holder.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    try {
      // WHEN this process wants it THEN it is refused, naming the other process
      expect(() => acquireLock(dir, 'churn', 'relearn local run')).toThrow(new RegExp(`execution local-other is running \\(pid ${holder.pid} `));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // WHEN it was killed (no chance to release) THEN its lock is stale
    acquireLock(dir, 'churn', 'relearn local run').release();
  });
});

describe('atomic writes', () => {
  test('the file is replaced whole; no temporary file is left', () => {
    const file = join(dir, 'state.json');
    writeFileAtomic(file, '{"a":1}');
    writeFileAtomic(file, Buffer.from('{"a":2}'));
    expect(readFileSync(file, 'utf8')).toBe('{"a":2}');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });
});
