/**
 * Count, mean and M2 (sum of squared deviations) by Welford's update; two summaries merge by Chan et al.'s
 * formula, so merge(a, b) equals the moments of a + b (counts exactly, mean/variance to rounding).
 */
export class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;

  add(x: number): void {
    const n = ++this.n;
    const d = x - this.mean;
    this.mean += d / n;
    this.m2 += d * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  merge(o: Moments): void {
    if (o.n === 0) return;
    if (this.n === 0) {
      Object.assign(this, { n: o.n, mean: o.mean, m2: o.m2, min: o.min, max: o.max });
      return;
    }
    const n = this.n + o.n;
    const d = o.mean - this.mean;
    this.mean += (d * o.n) / n;
    this.m2 += o.m2 + (d * d * this.n * o.n) / n;
    this.n = n;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }

  /** Population standard deviation. */
  get std(): number {
    return this.n > 0 ? Math.sqrt(this.m2 / this.n) : 0;
  }

  toJSON(): MomentsJson {
    return { n: this.n, mean: this.mean, m2: this.m2, min: this.n ? this.min : null, max: this.n ? this.max : null };
  }

  static fromJSON(j: MomentsJson): Moments {
    const m = new Moments();
    m.n = j.n;
    m.mean = j.mean;
    m.m2 = j.m2;
    m.min = j.min ?? Infinity;
    m.max = j.max ?? -Infinity;
    return m;
  }
}

export interface MomentsJson {
  n: number;
  mean: number;
  m2: number;
  min: number | null;
  max: number | null;
}
