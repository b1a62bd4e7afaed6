import { ColumnStats } from './engine';
import { earliest, RowLocation } from './location';

/**
 * The label's classes (Contract A, docs/architecture.md): labels are compared as trimmed strings, and when
 * every label is a number, as numbers (`1` and `1.0` are one class, named `1`). Classes are ordered by the
 * config, else by the champion's schema, else sorted (numerically when every label is a number).
 */

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** True when `value` (trimmed) is a plain number. */
export function isNumberLike(value: string): boolean {
  return NUMBER.test(value.trim());
}

/** A class's name: trimmed; a number's shortest form (`1.0` -> `1`) when `numeric`. */
export function className(value: string, numeric: boolean): string {
  const v = value.trim();
  return numeric && NUMBER.test(v) ? String(Number(v)) : v;
}

export interface LabelClass {
  readonly name: string;
  readonly count: number;
  /** The first row holding it, in the source. */
  readonly first?: RowLocation;
}

export interface ObservedClasses {
  /** By descending count (ties by name). */
  readonly classes: LabelClass[];
  /** Every label is a number. */
  readonly numeric: boolean;
  /** The counts are exact (fewer distinct labels than the frequent-items capacity). */
  readonly exact: boolean;
}

/** The classes a label column holds, from its frequent values (exact up to 1,024 distinct labels) and first rows. */
export function observedClasses(label: ColumnStats): ObservedClasses {
  const items = (label.freq?.top() ?? []).filter((e) => e.count > 0);
  const numeric = items.length > 0 && items.every((e) => isNumberLike(e.value));
  const byName = new Map<string, { count: number; first?: RowLocation }>();
  for (const e of items) {
    const name = className(e.value, numeric);
    const c = byName.get(name) ?? { count: 0 };
    c.count += e.count;
    c.first = earliest(c.first, label.firsts?.of(e.value));
    byName.set(name, c);
  }
  const classes = [...byName.entries()]
    .map(([name, c]) => ({ name, count: c.count, ...(c.first ? { first: c.first } : {}) }))
    .sort((a, b) => b.count - a.count || compareClasses(a.name, b.name, numeric));
  return { classes, numeric, exact: label.freq?.exact ?? true };
}

/** Class order when nothing fixes it: numerically when every class is a number, else by string. */
export function compareClasses(a: string, b: string, numeric: boolean): number {
  if (numeric) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortClasses(names: readonly string[]): string[] {
  const numeric = names.length > 0 && names.every((n) => isNumberLike(n));
  return [...names].sort((a, b) => compareClasses(a, b, numeric));
}

/** Where the expected classes come from: `dataset.classes`, a curated schema, or the champion's schema. */
export type ClassSource = 'config' | 'curated' | 'champion';

export interface ExpectedClasses {
  readonly classes: readonly string[];
  readonly source: ClassSource;
}

/** How a message names a class source. */
export const CLASS_SOURCE_WORDS: Record<ClassSource, string> = { config: 'dataset.classes', curated: 'the curated schema', champion: "the champion's schema" };

/**
 * The reference classes: the first of `candidates` (in order: config, curated, champion) that names some. Names
 * are compared in the data's terms: when every observed label is a number, a listed `1.0` is class `1`.
 */
export function expectedClasses(candidates: readonly { classes?: readonly string[]; source: ClassSource }[], numeric: boolean): ExpectedClasses | undefined {
  const found = candidates.find((c) => c.classes && c.classes.length > 0);
  if (!found) return undefined;
  const list = found.classes!;
  const asNumbers = numeric && list.every(isNumberLike);
  return { classes: list.map((c) => className(c, asNumbers)), source: found.source };
}

/**
 * The run's ordered classes (pinned in its schema.json): the reference's order, then any new classes sorted
 * (they only get here when `unexpected_class` does not block); without a reference, the observed ones sorted.
 */
export function runClasses(observed: ObservedClasses, expected: ExpectedClasses | undefined): string[] {
  const seen = observed.classes.map((c) => c.name);
  if (!expected) return sortClasses(seen);
  const known = new Set(expected.classes);
  return [...expected.classes, ...sortClasses(seen.filter((c) => !known.has(c)))];
}
