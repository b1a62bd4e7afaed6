import { hashString } from './hash';

const utf8 = new TextDecoder('utf-8');

/**
 * Frequent items (Misra-Gries with batched decrements, as in Apache DataSketches' frequent-items sketch),
 * keyed by the 32-bit hash of the value's UTF-8 bytes so the hot path looks values up without building
 * strings. Holds at most `capacity` items. While fewer distinct values than that were seen, counts are
 * exact (`maxError` = 0). Beyond, the smaller half of the counts is decremented away; `maxError` is the total
 * decremented, and every true count lies in [count, count + maxError]. Merge adds counts and errors, then
 * purges the same way, so it stays within the same bound for the union.
 */
export interface FrequentItem {
  value: string;
  count: number;
}

/** Map keys are the hash's low 30 bits: small integers ("Smis") that V8's Map hashes without boxing. */
const key = (hash: number) => hash & 0x3fffffff;

export class FrequentItems {
  readonly items = new Map<number, FrequentItem>();
  maxError = 0;

  constructor(readonly capacity = 256) {}

  /** Counts one occurrence of the value whose bytes hash to `hash`; `value` is called only for a new item. */
  addHashed(hash: number, value: () => string, count = 1): void {
    const k = key(hash);
    const e = this.items.get(k);
    if (e) {
      e.count += count;
      return;
    }
    this.items.set(k, { value: value(), count });
    if (this.items.size > this.capacity) this.purge();
  }

  /** Hot-path form: the value is bytes [start, end) of `buf`, decoded only when it is a new item (then returns true). */
  addBytes(hash: number, buf: Uint8Array, start: number, end: number): boolean {
    const k = key(hash);
    const e = this.items.get(k);
    if (e) {
      e.count++;
      return false;
    }
    this.items.set(k, { value: utf8.decode(buf.subarray(start, end)), count: 1 });
    if (this.items.size > this.capacity) this.purge();
    return true;
  }

  add(value: string, count = 1): void {
    this.addHashed(hashString(value), () => value, count);
  }

  private purge(): void {
    const counts = [...this.items.values()].map((e) => e.count).sort((a, b) => b - a);
    const cut = counts[Math.floor(this.capacity / 2)];
    for (const [h, e] of this.items) {
      e.count -= cut;
      if (e.count <= 0) this.items.delete(h);
    }
    this.maxError += cut;
  }

  merge(o: FrequentItems): void {
    for (const [h, e] of o.items) {
      const mine = this.items.get(h);
      if (mine) mine.count += e.count;
      else this.items.set(h, { value: e.value, count: e.count });
    }
    this.maxError += o.maxError;
    while (this.items.size > this.capacity) this.purge();
  }

  /** Items by descending count (ties by value), at most `k`. */
  top(k = this.capacity): FrequentItem[] {
    return [...this.items.values()]
      .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
      .slice(0, k)
      .map((e) => ({ ...e }));
  }

  get exact(): boolean {
    return this.maxError === 0;
  }

  toJSON(): FrequentJson {
    return { capacity: this.capacity, maxError: this.maxError, items: this.top().map((e) => [e.value, e.count]) };
  }

  static fromJSON(j: FrequentJson): FrequentItems {
    const f = new FrequentItems(j.capacity);
    for (const [v, c] of j.items) f.items.set(key(hashString(v)), { value: v, count: c });
    f.maxError = j.maxError;
    return f;
  }
}

export interface FrequentJson {
  capacity: number;
  maxError: number;
  items: [string, number][];
}
