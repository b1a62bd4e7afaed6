/**
 * What every example generator shares: a seeded pseudo-random generator that gives the same numbers on every
 * platform, CSV quoting, a streamed writer (millions of rows without building them up front) and the
 * command line (`--rows N --seed S [--variant V] [--out FILE]`, exit 2 with one line on bad options).
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** sfc32: a small, fast, seedable PRNG (deterministic across platforms). */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 + seed * 0x85ebca6b;
  let c = 0xb7e15162 ^ (seed >>> 3);
  let d = 1;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 20; i++) next();
  return next;
}

/** Seeded draws from the distributions the generators use. */
export class Rng {
  private readonly next: () => number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.next = sfc32(seed);
  }
  uniform(): number {
    return this.next();
  }
  normal(mean = 0, sd = 1): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return mean + sd * s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + sd * r * Math.cos(2 * Math.PI * v);
  }
  poisson(lambda: number): number {
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.next();
    } while (p > l);
    return k - 1;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  weighted(weights: readonly number[], total: number): number {
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i];
      if (x < 0) return i;
    }
    return weights.length - 1;
  }
}

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** A CSV field, quoted when it holds a comma, a quote or a line break. */
export function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Thousands separators: 1234567.5 -> "1,234,567.50" with `decimals` digits. */
export function withThousands(value: number, decimals = 0): string {
  const [whole, fraction] = Math.abs(value).toFixed(decimals).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${value < 0 ? '-' : ''}${grouped}${fraction ? `.${fraction}` : ''}`;
}

export interface StreamRowsOptions<V extends string> {
  readonly rows: number;
  readonly seed: number;
  readonly variant: V;
  readonly variants: readonly V[];
  /** Rows per pushed chunk. @default 2000 */
  readonly chunkRows?: number;
  readonly header: readonly string[];
  /** One row as CSV text (fields already quoted); `index` counts from 1. */
  readonly row: (rng: Rng, index: number) => string;
}

/** Streams `rows` rows as CSV text (header first), checking the options. Deterministic for (rows, seed, variant). */
export function streamRows<V extends string>(opts: StreamRowsOptions<V>): Readable {
  if (!opts.variants.includes(opts.variant)) throw new Error(`variant must be one of ${opts.variants.join(', ')}, but got "${opts.variant}"`);
  if (!Number.isInteger(opts.rows) || opts.rows < 0) throw new Error(`rows must be a non-negative integer, but got ${opts.rows}`);
  if (!Number.isInteger(opts.seed)) throw new Error(`seed must be an integer, but got ${opts.seed}`);
  const chunkRows = opts.chunkRows ?? 2000;
  const rng = new Rng(opts.seed);
  let written = 0;
  let headerDone = false;
  return new Readable({
    encoding: 'utf8',
    read() {
      let out = '';
      if (!headerDone) {
        out += opts.header.join(',') + '\n';
        headerDone = true;
      }
      const end = Math.min(opts.rows, written + chunkRows);
      for (; written < end; written++) out += opts.row(rng, written + 1) + '\n';
      if (out) this.push(out);
      if (written >= opts.rows) this.push(null);
    },
  });
}

/** The generators' command line: --rows N --seed S [--variant V] [--out FILE] (stdout when --out is absent). */
export async function runCli<V extends string>(
  argv: string[],
  variants: readonly V[],
  generate: (opts: { rows: number; seed: number; variant: V }) => Readable,
  defaults: { rows: number; seed: number } = { rows: 5000, seed: 1 },
): Promise<void> {
  const args: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}" (usage: --rows N --seed S [--variant ${variants.join('|')}] [--out FILE])`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${a} needs a value`);
    args[a.slice(2)] = value;
    i++;
  }
  for (const key of Object.keys(args)) {
    if (!['rows', 'seed', 'variant', 'out'].includes(key)) throw new Error(`unknown option --${key} (known: --rows, --seed, --variant, --out)`);
  }
  const rows = Number(args.rows ?? String(defaults.rows));
  const seed = Number(args.seed ?? String(defaults.seed));
  const stream = generate({ rows, seed, variant: (args.variant ?? variants[0]) as V });
  if (args.out) await pipeline(stream, createWriteStream(args.out));
  else await pipeline(stream, process.stdout);
}

/** Runs a generator's CLI as the main module: a bad option is one line on stderr and exit 2. */
export function cliMain(name: string, run: (argv: string[]) => Promise<void>): void {
  run(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(2);
  });
}
