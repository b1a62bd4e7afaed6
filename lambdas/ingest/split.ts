import { className, isNumberLike } from '../shared/stats/classes';
import { RowLocation } from '../shared/stats/location';

/**
 * The stratified split (classification): every row goes where its hash puts it (`splitPosition(salt, id) <
 * validationFraction` -> validation), except that a class whose rows all landed on one side gives one row to
 * the other side: the row whose position is nearest the boundary (all in train: the smallest position goes to
 * validation; all in validation: the largest goes to train). So each class with two rows or more is in both
 * splits, every other row keeps the split the plain hash gives it (the same row lands in the same split on
 * every ingest of the same data), and the moved row is a function of the class's rows, not of their order.
 * A class with a single row cannot be in both: it is reported (`tooRare`).
 *
 * This class only decides; Ingest writes the rows as they stream by and moves the few rows at the end.
 */

/** Where a row was written: enough to cut it out of its part and to move it. */
export interface Placement {
  readonly split: 'train' | 'validation';
  /** Part number within the split. */
  readonly part: number;
  /** Row index within the part (0-based, header excluded). */
  readonly row: number;
  /** Byte range of the row's CSV text in the part body. */
  readonly offset: number;
  readonly length: number;
}

interface Candidate {
  readonly position: number;
  readonly id: string;
  readonly placement: Placement;
  readonly at: RowLocation;
}

interface Stratum {
  rows: number;
  validation: number;
  /** The train row with the smallest position, and the validation row with the largest. */
  minTrain?: Candidate;
  maxValidation?: Candidate;
}

export interface Move {
  readonly className: string;
  readonly id: string;
  readonly from: Placement;
  readonly to: 'train' | 'validation';
  readonly at: RowLocation;
}

export interface ClassSplit {
  readonly name: string;
  readonly rows: number;
  readonly train: number;
  readonly validation: number;
}

export interface TooRare {
  readonly name: string;
  readonly rows: number;
  readonly split: 'train' | 'validation';
  readonly at: RowLocation;
}

export interface SplitReport {
  /** Per class, after the moves; sorted by name. */
  readonly classes: ClassSplit[];
  readonly moves: Move[];
  readonly tooRare: TooRare[];
  /** Rows whose class came after the first `maxClasses` classes: split by hash alone. */
  readonly untrackedRows: number;
  readonly maxClasses: number;
}

/** The class a label value stratifies into: trimmed, numbers in their shortest form; null for an empty label. */
export function stratumOf(label: string | null): string | null {
  if (label === null) return null;
  const v = label.trim();
  if (v === '') return null;
  return className(v, isNumberLike(v));
}

/** The stratum of the classes beyond `maxClasses`: their rows keep the hash split, and are counted. */
const UNTRACKED: Stratum = { rows: 0, validation: 0 };

export class Stratifier {
  private readonly strata = new Map<string, Stratum>();
  /** Raw label text -> its stratum (labels repeat: one Map lookup per row instead of trimming and parsing). */
  private readonly byRaw = new Map<string, Stratum | null>();
  private untracked = 0;

  /** @param maxClasses classes tracked (a label with more is hardly a class label; the rest go by hash) */
  constructor(readonly maxClasses = 1024) {}

  /**
   * Records a row whose label is `label` (its class: `stratumOf`; an empty label is in no class) with its split
   * position (the number the hash rule used), written by `writer` just now (asked for the row's placement only
   * when the row becomes a candidate: no allocation per row).
   */
  observe(label: string | null, position: number, id: string, writer: { readonly split: 'train' | 'validation'; lastPlacement(): Placement }, file: string, line: number): void {
    if (label === null) return;
    let s = this.byRaw.get(label);
    if (s === undefined) {
      s = this.stratum(label);
      if (this.byRaw.size < 4 * this.maxClasses) this.byRaw.set(label, s);
    }
    if (s === null) return;
    if (s === UNTRACKED) {
      this.untracked++;
      return;
    }
    s.rows++;
    if (writer.split === 'validation') {
      s.validation++;
      if (!s.maxValidation || position > s.maxValidation.position) s.maxValidation = { position, id, placement: writer.lastPlacement(), at: { file, line } };
    } else if (!s.minTrain || position < s.minTrain.position) {
      s.minTrain = { position, id, placement: writer.lastPlacement(), at: { file, line } };
    }
  }

  /** The stratum of a label text; null for an empty label, UNTRACKED for a class beyond `maxClasses`. */
  private stratum(label: string): Stratum | null {
    const name = stratumOf(label);
    if (name === null) return null;
    let s = this.strata.get(name);
    if (!s) {
      if (this.strata.size >= this.maxClasses) return UNTRACKED;
      s = { rows: 0, validation: 0 };
      this.strata.set(name, s);
    }
    return s;
  }

  /** The rows to move and what to report, once every row was seen. */
  finish(): SplitReport {
    const moves: Move[] = [];
    const tooRare: TooRare[] = [];
    const classes: ClassSplit[] = [];
    for (const [name, s] of [...this.strata.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      let validation = s.validation;
      if (s.rows === 1) {
        const only = (s.minTrain ?? s.maxValidation)!;
        tooRare.push({ name, rows: 1, split: only.placement.split, at: only.at });
      } else if (validation === 0) {
        const c = s.minTrain!;
        moves.push({ className: name, id: c.id, from: c.placement, to: 'validation', at: c.at });
        validation = 1;
      } else if (validation === s.rows) {
        const c = s.maxValidation!;
        moves.push({ className: name, id: c.id, from: c.placement, to: 'train', at: c.at });
        validation = s.rows - 1;
      }
      classes.push({ name, rows: s.rows, train: s.rows - validation, validation });
    }
    return { classes, moves, tooRare, untrackedRows: this.untracked, maxClasses: this.maxClasses };
  }
}
