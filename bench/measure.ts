import { spawn, spawnSync } from 'node:child_process';

/** Helpers the benchmarks share: command-line options, a measurement in a child process, medians. */

/** The value after `--name` on the command line. */
export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Runs one measurement in its own process (so that its peak RSS is its own); its last stdout line is JSON. */
export function runJson(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, number> {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 * 1_000_000, env });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `runJson` without blocking this process's event loop (for a measurement that talks to a server in this process). */
export function runJsonAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}
