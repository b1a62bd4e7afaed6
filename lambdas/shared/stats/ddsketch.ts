/**
 * DDSketch (Masson, Rim & Lee, VLDB 2019): a quantile sketch with a relative-error guarantee. A value's bin
 * comes from a cheap log-like mapping (the binary exponent plus the linearly interpolated mantissa, as
 * DDSketch's "LogLikeIndexMapping"), scaled so that no bin spans more than a factor gamma = (1 + alpha) /
 * (1 - alpha); a quantile is the harmonic middle of its bin's bounds, within relative error alpha of the true
 * quantile (alpha = 1 % by default). This avoids a Math.log per value on the hot path, at the cost of up to
 * 1.44x more bins than the exact logarithmic mapping. Values closer to 0 than MIN_INDEXABLE count as 0.
 * Bins of two sketches with the same alpha line up, so merge is exact: merge(a, b) is the sketch of a + b.
 * At most `maxBins` bins per sign (the lowest are collapsed beyond that: only quantiles among the smallest
 * magnitudes lose the guarantee, which takes a dynamic range above ~10^24 at 1 %).
 */
export const MIN_INDEXABLE = 1e-9;

class DenseStore {
  counts = new Float64Array(0);
  offset = 0;
  total = 0;

  constructor(private readonly maxBins: number) {}

  add(index: number, count = 1): void {
    if (this.counts.length === 0) {
      this.counts = new Float64Array(64);
      this.offset = index - 32;
    }
    let i = index - this.offset;
    if (i < 0 || i >= this.counts.length) i = this.extend(index);
    this.counts[i] += count;
    this.total += count;
  }

  private extend(index: number): number {
    const lo = Math.min(index, this.offset);
    const hi = Math.max(index, this.offset + this.counts.length - 1);
    let span = hi - lo + 1;
    if (span > this.maxBins) {
      // Collapse the lowest bins into the lowest kept one.
      const newLo = hi - this.maxBins + 1;
      const next = new Float64Array(this.maxBins);
      let collapsed = 0;
      for (let j = 0; j < this.counts.length; j++) {
        const idx = this.offset + j;
        if (idx < newLo) collapsed += this.counts[j];
        else next[idx - newLo] += this.counts[j];
      }
      next[0] += collapsed;
      this.counts = next;
      this.offset = newLo;
      return Math.max(index, newLo) - newLo;
    }
    span = Math.min(this.maxBins, Math.max(span, this.counts.length * 2));
    const newLo = index < this.offset ? hi - span + 1 : this.offset; // room on the side that grew
    const next = new Float64Array(span);
    next.set(this.counts, this.offset - newLo);
    this.counts = next;
    this.offset = newLo;
    return index - newLo;
  }

  /** [index, count] of non-empty bins, ascending. */
  *bins(): Generator<[number, number]> {
    for (let j = 0; j < this.counts.length; j++) if (this.counts[j] > 0) yield [this.offset + j, this.counts[j]];
  }

  toJSON(): { offset: number; counts: number[] } {
    let a = 0;
    let b = this.counts.length;
    while (a < b && this.counts[a] === 0) a++;
    while (b > a && this.counts[b - 1] === 0) b--;
    return { offset: this.offset + a, counts: Array.from(this.counts.subarray(a, b)) };
  }

  load(j: { offset: number; counts: number[] }): void {
    j.counts.forEach((c, k) => c > 0 && this.add(j.offset + k, c));
  }
}

export interface DDSketchJson {
  alpha: number;
  mapping: 'loglinear';
  zero: number;
  pos: { offset: number; counts: number[] };
  neg: { offset: number; counts: number[] };
  min: number | null;
  max: number | null;
}

export class DDSketch {
  readonly gamma: number;
  /** Bins per unit of the log-like coordinate: 1 / ln(gamma) keeps every bin within a factor gamma. */
  private readonly multiplier: number;
  private readonly pos: DenseStore;
  private readonly neg: DenseStore;
  zero = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    readonly alpha = 0.01,
    readonly maxBins = 4096,
  ) {
    this.gamma = (1 + alpha) / (1 - alpha);
    this.multiplier = 1 / Math.log(this.gamma);
    this.pos = new DenseStore(maxBins);
    this.neg = new DenseStore(maxBins);
  }

  get count(): number {
    return this.zero + this.pos.total + this.neg.total;
  }

  add(x: number): void {
    if (x >= MIN_INDEXABLE) this.pos.add(Math.ceil(log2Like(x) * this.multiplier));
    else if (x <= -MIN_INDEXABLE) this.neg.add(Math.ceil(log2Like(-x) * this.multiplier));
    else this.zero++;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  merge(o: DDSketch): void {
    if (o.alpha !== this.alpha) throw new Error(`cannot merge DDSketches of accuracy ${this.alpha} and ${o.alpha}`);
    for (const [i, c] of o.pos.bins()) this.pos.add(i, c);
    for (const [i, c] of o.neg.bins()) this.neg.add(i, c);
    this.zero += o.zero;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }

  /** The bin's representative: the harmonic middle of its bounds, within relative error alpha of both. */
  private value(index: number): number {
    const lo = inverseLog2Like((index - 1) / this.multiplier);
    const hi = inverseLog2Like(index / this.multiplier);
    return (2 * lo * hi) / (lo + hi);
  }

  /** The q-quantile (0 <= q <= 1), within relative error alpha; null when empty. */
  quantile(q: number): number | null {
    const n = this.count;
    if (n === 0) return null;
    const rank = q * (n - 1);
    let seen = 0;
    const negBins = [...this.neg.bins()].reverse(); // most negative first
    for (const [i, c] of negBins) {
      seen += c;
      if (seen > rank) return this.clamp(-this.value(i));
    }
    seen += this.zero;
    if (seen > rank) return this.clamp(0);
    for (const [i, c] of this.pos.bins()) {
      seen += c;
      if (seen > rank) return this.clamp(this.value(i));
    }
    return this.max;
  }

  private clamp(v: number): number {
    return Math.min(this.max, Math.max(this.min, v));
  }

  /** Share of values <= x (to the sketch's resolution). */
  cdf(x: number): number {
    const n = this.count;
    if (n === 0) return 0;
    let below = 0;
    for (const [i, c] of this.neg.bins()) if (-this.value(i) <= x) below += c;
    if (x >= 0) below += this.zero;
    for (const [i, c] of this.pos.bins()) if (this.value(i) <= x) below += c;
    return below / n;
  }

  toJSON(): DDSketchJson {
    return {
      alpha: this.alpha,
      mapping: 'loglinear',
      zero: this.zero,
      pos: this.pos.toJSON(),
      neg: this.neg.toJSON(),
      min: this.count ? this.min : null,
      max: this.count ? this.max : null,
    };
  }

  static fromJSON(j: DDSketchJson): DDSketch {
    if (j.mapping !== 'loglinear') throw new Error(`unknown DDSketch mapping ${String(j.mapping)}`);
    const s = new DDSketch(j.alpha);
    s.pos.load(j.pos);
    s.neg.load(j.neg);
    s.zero = j.zero;
    s.min = j.min ?? Infinity;
    s.max = j.max ?? -Infinity;
    return s;
  }
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // little-endian: the high word is [1]

/** exponent + (mantissa - 1) of a positive normal double: monotone, exact at powers of two, log2(x) within 0.086. */
function log2Like(x: number): number {
  f64[0] = x;
  const hi = u32[HI];
  return ((hi >>> 20) & 0x7ff) - 1023 + ((hi & 0xfffff) * 4294967296 + u32[1 - HI]) / 4503599627370496;
}

function inverseLog2Like(a: number): number {
  const e = Math.floor(a);
  return (1 + (a - e)) * 2 ** e;
}
