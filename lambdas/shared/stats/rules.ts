import { driftThreshold, DriftMeasure, RuleId, Severity, ValidationConfig } from '../config/validation';
import { CLASS_SOURCE_WORDS, ExpectedClasses, LabelClass, observedClasses } from './classes';
import { DDSketch } from './ddsketch';
import { ColumnStats, DatasetStats } from './engine';
import { isBefore, RowLocation } from './location';
import { DatasetSchema } from './schema';

/**
 * The anomaly rules: pure functions of the new dataset's merged statistics, the expected schema and the
 * champion's baseline statistics. Each anomaly has a rule id, a severity (block or warn, configurable per
 * rule and per column) and a message that names the column and gives the observed and expected values; an
 * anomaly about values says where the first offending one is (the user's file, line and column).
 */

export interface Anomaly {
  readonly rule: RuleId;
  readonly severity: 'block' | 'warn';
  readonly column?: string;
  readonly message: string;
  readonly observed?: unknown;
  readonly expected?: unknown;
  /** The first offending row: the source object and line (or the dataset part, for a snapshot without line maps). */
  readonly location?: RowLocation & { readonly column: string };
}

/**
 * Built-in severities. Drift and row-count swings warn at their warning thresholds (they may be the very change
 * a retrain is for); drift blocks at its blocking thresholds whatever this says.
 */
export const DEFAULT_SEVERITY: Record<RuleId, 'block' | 'warn'> = {
  missing_column: 'block',
  new_column: 'warn',
  wrong_type: 'block',
  out_of_range: 'block',
  non_finite: 'block',
  unexpected_category: 'block',
  missing_share: 'block',
  empty_text: 'block',
  too_few_rows: 'block',
  row_count_change: 'warn',
  label_missing: 'block',
  label_type: 'block',
  single_class: 'block',
  unexpected_class: 'block',
  missing_class: 'warn',
  class_imbalance: 'warn',
  rare_class: 'warn',
  label_leakage: 'block',
  duplicate_rows: 'block',
  drift_categorical: 'warn',
  drift_numeric: 'warn',
  distribution_shift: 'warn',
};

/** A class the stratified split could not put in both splits (Ingest's manifest, `split.tooRare`). */
export interface RareClass {
  readonly name: string;
  readonly rows: number;
  readonly split: 'train' | 'validation';
  readonly at?: RowLocation;
}

export interface RuleInput {
  readonly stats: DatasetStats;
  /** What the data should look like: curated, the champion's, or inferred from this dataset (first run). */
  readonly schema: DatasetSchema;
  /** The champion's statistics (absent on the first run). */
  readonly baseline?: DatasetStats;
  readonly config: ValidationConfig;
  readonly labelColumn: string;
  /** @default binary_classification */
  readonly problemType?: 'binary_classification' | 'multiclass_classification' | 'regression';
  /** Columns that identify rows (the id column, `_row_id`): no leakage or drift checks on them. */
  readonly idColumns?: readonly string[];
  /** Columns with role `ignore` (config or curated schema): no column checks at all. */
  readonly ignoredColumns?: readonly string[];
  /** Classification: the classes the label must take (`dataset.classes`, else the champion's schema's). */
  readonly expectedClasses?: ExpectedClasses;
  /** Classes too rare for both splits, from Ingest. */
  readonly rareClasses?: readonly RareClass[];
}

const pct = (x: number) => `${(100 * x).toFixed(x !== 0 && Math.abs(x) < 0.001 ? 3 : 1)}%`;
/** Counts with thousands separators; */
const num = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : Number(x.toPrecision(6)).toString());
/** values plain (a range "[1, 3544]" must not read as three numbers). */
const val = (x: number) => Number(x.toPrecision(6)).toString();
const quoted = (v: string | undefined) => JSON.stringify(v ?? '');
const list = (names: readonly string[], max = 5) => names.slice(0, max).map((n) => `"${n}"`).join(', ') + (names.length > max ? `, ... (${names.length} in all)` : '');

/** `incoming/x.csv line 12 column "price": "12,5" is not a number`: where, in the user's terms. */
export function located(at: RowLocation, column: string, what: string): string {
  return `${at.file} line ${at.line} column "${column}": ${what}`;
}

export function applyRules(input: RuleInput): Anomaly[] {
  const { stats, schema, baseline, config, labelColumn } = input;
  const problemType = input.problemType ?? 'binary_classification';
  const classification = problemType !== 'regression';
  const out: Anomaly[] = [];
  const severity = (rule: RuleId, column?: string): Severity =>
    (column !== undefined ? config.columns[column]?.[rule] : undefined) ?? config.rules[rule] ?? DEFAULT_SEVERITY[rule];
  /** `first`: the first offending row, appended to the message as `(first: <file> line <n> column "<c>": <what>)`. */
  const report = (
    rule: RuleId,
    column: string | undefined,
    message: string,
    observed?: unknown,
    expected?: unknown,
    cap?: 'warn' | 'block',
    first?: { at: RowLocation | undefined; what: string },
  ) => {
    const s = severity(rule, column);
    if (s === 'off') return;
    const at = first?.at && column !== undefined ? first.at : undefined;
    out.push({
      rule,
      severity: cap ?? s,
      ...(column !== undefined ? { column } : {}),
      message: at ? `${message} (first: ${located(at, column!, first!.what)})` : message,
      observed,
      expected,
      ...(at ? { location: { ...at, column: column! } } : {}),
    });
  };
  const ids = new Set(input.idColumns ?? []);
  const ignored = new Set(input.ignoredColumns ?? []);
  const rows = stats.rows;

  // 1. Dataset level: rows, row-count swing, duplicates.
  if (rows < config.minRows) report('too_few_rows', undefined, `the dataset has ${num(rows)} rows, expected at least ${num(config.minRows)}`, rows, config.minRows);
  if (baseline && baseline.rows > 0 && rows > 0) {
    const ratio = rows / baseline.rows;
    if (ratio > config.maxRowCountRatio || ratio < 1 / config.maxRowCountRatio) {
      report('row_count_change', undefined, `the dataset has ${num(rows)} rows against ${num(baseline.rows)} in the champion's dataset (x${ratio.toFixed(2)}), expected within x${config.maxRowCountRatio}`, rows, baseline.rows);
    }
  }
  if (rows > 0) {
    const dupShare = stats.duplicateRows / rows;
    if (dupShare > config.maxDuplicateShare) {
      report('duplicate_rows', undefined, `about ${pct(dupShare)} of rows (${num(stats.duplicateRows)} of ${num(rows)}, estimated) repeat another row, expected at most ${pct(config.maxDuplicateShare)}`, dupShare, config.maxDuplicateShare);
    }
  }

  // 2. Columns against the schema (ignored columns are not checked; the label has its own rules in 3).
  const present = new Map(stats.columns.map((c) => [c.name, c]));
  for (const col of schema.columns) {
    if (!present.has(col.name) && col.required && col.name !== labelColumn && !ignored.has(col.name)) {
      report('missing_column', col.name, `column "${col.name}" is missing (required by the ${schema.source} schema)`, 'absent', 'present');
    }
  }
  if (schema.source !== 'inferred') {
    const known = new Set(schema.columns.map((c) => c.name));
    for (const c of stats.columns) {
      if (!known.has(c.name) && !ids.has(c.name) && !ignored.has(c.name)) report('new_column', c.name, `column "${c.name}" is new: the ${schema.source} schema does not have it`, 'present', 'absent');
    }
  }

  for (const c of stats.columns) {
    const name = c.name;
    if (ignored.has(name)) continue;
    const expected = schema.columns.find((s) => s.name === name);
    const isLabel = name === labelColumn;
    const valued = c.count - c.missing;
    // wrong type (the label's type is checked by its own rules)
    if (expected && expected.type !== c.kind) {
      if (!isLabel) report('wrong_type', name, `column "${name}" holds ${c.kind} values, expected ${expected.type}`, c.kind, expected.type);
    } else if (!isLabel && c.kind === 'numeric' && valued > 0 && c.typeErrors / valued > config.maxTypeErrorShare) {
      const ex = c.typeErrorExample;
      report('wrong_type', name,
        `column "${name}": ${num(c.typeErrors)} of ${num(valued)} values (${pct(c.typeErrors / valued)}) are not numbers, expected numeric`,
        c.typeErrors / valued, config.maxTypeErrorShare, undefined, { at: ex, what: `${quoted(ex?.value)} is not a number` });
    }
    // missing share (the label has its own rule)
    if (!isLabel && c.count > 0) {
      const share = c.missing / c.count;
      // A schema inferred from this very dataset is no baseline for its own missing values.
      const base = schema.source === 'inferred' ? 0 : (expected?.missingShare ?? 0);
      const limit = Math.max(config.maxMissingShare, base + config.maxMissingIncrease);
      if (share > limit) {
        report('missing_share', name, `column "${name}": ${pct(share)} of values are missing, expected at most ${pct(limit)} (baseline ${pct(base)})`, share, limit);
      }
    }
    if (c.kind === 'numeric') numericRules(c, expected, schema.source === 'curated', isLabel);
    if (c.kind === 'categorical' && expected?.domain && !ids.has(name) && !isLabel) categoryRule(c, expected.domain);
    if (c.kind === 'text' && c.count > 0 && !ids.has(name) && !isLabel) {
      const share = (c.missing + c.blank) / c.count;
      if (share > config.maxEmptyTextShare) {
        report('empty_text', name, `column "${name}": ${pct(share)} of texts are empty or blank, expected at most ${pct(config.maxEmptyTextShare)}`, share, config.maxEmptyTextShare);
      }
    }
    // leakage: a feature that equals the label row by row
    if (!isLabel && !ids.has(name) && rows >= 10 && present.has(labelColumn)) {
      const share = c.equalToLabel / rows;
      if (share >= config.leakageShare) {
        report('label_leakage', name, `column "${name}" is identical to the label "${labelColumn}" on ${pct(share)} of rows: it leaks the label`, share, `< ${pct(config.leakageShare)}`);
      }
    }
    // drift against the champion's baseline
    const b = baseline?.column(name);
    if (b && b.kind === c.kind && !ids.has(name) && !isLabel) driftRules(c, b);
  }

  // 3. The label: present, labelled, and of the problem type's kind (classes, or finite numbers).
  const label = present.get(labelColumn);
  if (!label) {
    report('label_missing', labelColumn, `the label column "${labelColumn}" is missing`, 'absent', 'present');
  } else if (label.count > 0) {
    const share = label.missing / label.count;
    if (share > config.maxLabelMissingShare) {
      report('label_missing', labelColumn, `the label "${labelColumn}" is missing in ${num(label.missing)} of ${num(label.count)} rows (${pct(share)}), expected at most ${pct(config.maxLabelMissingShare)}`,
        share, config.maxLabelMissingShare, undefined, { at: label.missingExample, what: 'no label' });
    }
    if (classification) classRules(label);
    else regressionLabel(label);
  }
  for (const r of input.rareClasses ?? []) {
    report('rare_class', labelColumn,
      `class "${r.name}" has ${num(r.rows)} row${r.rows === 1 ? '' : 's'}, too few to be in both splits: it is in the ${r.split} split only${r.split === 'train' ? ', so the evaluation never scores it' : ', so the model never learns it'}`,
      r.rows, 2, undefined, { at: r.at, what: quoted(r.name) });
  }
  return out;

  function classRules(label: ColumnStats): void {
    const obs = observedClasses(label);
    const classes = obs.classes;
    const labelled = classes.reduce((s, e) => s + e.count, 0);
    const counts = (cs: readonly LabelClass[]) => cs.map((c) => `"${c.name}" ${num(c.count)}`).join(', ');
    const firstOf = (cs: readonly LabelClass[]) => cs.reduce<LabelClass | undefined>((a, c) => (c.first && (!a?.first || isBefore(c.first, a.first)) ? c : a), undefined);
    const exp = input.expectedClasses;
    const from = exp ? CLASS_SOURCE_WORDS[exp.source] : '';
    if (!obs.exact) {
      report('unexpected_class', labelColumn,
        `the label "${labelColumn}" has more than ${num(label.freq!.capacity)} distinct values: too many for the classes of ${problemType} (is it a regression label?)`,
        '> ' + label.freq!.capacity, exp ? exp.classes.length : 'classes');
      return;
    }
    if (exp) {
      const known = new Set(exp.classes);
      const unknown = classes.filter((c) => !known.has(c.name));
      if (unknown.length) {
        const first = firstOf(unknown);
        report('unexpected_class', labelColumn,
          `the label "${labelColumn}" has ${unknown.length === 1 ? 'a class' : `${unknown.length} classes`} that ${from} does not know: ${counts(unknown.slice(0, 5))} row(s) (known: ${list(exp.classes, 10)})`,
          unknown.map((c) => c.name), exp.classes, undefined, first ? { at: first.first, what: `${quoted(first.name)} is not a known class` } : undefined);
      }
      const seen = new Set(classes.map((c) => c.name));
      const absent = exp.classes.filter((c) => !seen.has(c));
      if (absent.length && classes.length >= 2) {
        report('missing_class', labelColumn, `class${absent.length === 1 ? '' : 'es'} ${list(absent)} of ${from} ${absent.length === 1 ? 'is' : 'are'} not in this dataset`, absent, exp.classes);
      }
    } else if (problemType === 'binary_classification' && classes.length > 2) {
      const rarest = classes[classes.length - 1];
      report('unexpected_class', labelColumn,
        `the label "${labelColumn}" has ${classes.length} classes (${counts(classes.slice(0, 5))}${classes.length > 5 ? ', ...' : ''}), expected exactly 2 for binary_classification (name them in dataset.classes, or use multiclass_classification)`,
        classes.length, 2, undefined, { at: rarest.first, what: `${quoted(rarest.name)}, a third class` });
    }
    if (classes.length < 2) {
      report('single_class', labelColumn,
        `the label "${labelColumn}" has ${classes.length === 0 ? 'no values' : `a single class ("${classes[0].name}")`}, expected at least 2 classes`,
        classes.length, 2, undefined, classes.length ? { at: classes[0].first, what: `${quoted(classes[0].name)}, the only class` } : { at: label.missingExample, what: 'no label' });
    } else {
      const rare = classes[classes.length - 1];
      if (rare.count / labelled < config.minClassShare) {
        report('class_imbalance', labelColumn, `the label's rarest class "${rare.name}" holds ${pct(rare.count / labelled)} of rows, expected at least ${pct(config.minClassShare)}`, rare.count / labelled, config.minClassShare);
      }
    }
  }

  /** A regression label is a finite number in every labelled row (its column is planned as numeric). */
  function regressionLabel(label: ColumnStats): void {
    const notNumbers = label.kind === 'numeric' ? label.typeErrors : label.count - label.missing;
    const nonFinite = label.nan + label.posInf + label.negInf;
    if (notNumbers + nonFinite === 0) return;
    const text = label.typeErrorExample;
    const inf = label.nonFiniteExample;
    const first = text && (!inf || isBefore(text, inf)) ? { at: text, what: `${quoted(text.value)} is not a number` } : { at: inf, what: `${quoted(inf?.value)} is not finite` };
    report('label_type', labelColumn,
      `the label "${labelColumn}" of a regression must be a finite number, but ${num(notNumbers)} value(s) are not numbers and ${num(nonFinite)} are NaN or infinite`,
      { notNumbers, nonFinite }, 'finite numbers', undefined, first);
  }

  function numericRules(c: ColumnStats, expected: DatasetSchema['columns'][number] | undefined, curated: boolean, isLabel: boolean): void {
    const name = c.name;
    const nonFinite = c.nan + c.posInf + c.negInf;
    if (nonFinite > 0 && !isLabel) {
      const ex = c.nonFiniteExample;
      report('non_finite', name, `column "${name}" has ${num(c.nan)} NaN and ${num(c.posInf + c.negInf)} infinite values, expected none`, nonFinite, 0, undefined,
        { at: ex, what: `${quoted(ex?.value)} is not finite` });
    }
    const m = c.moments!;
    if (!expected || m.n === 0) return;
    const lo = expected.min;
    const hi = expected.max;
    const below = lo !== undefined && m.min < lo;
    const above = hi !== undefined && m.max > hi;
    if (!below && !above) return;
    const share = (below ? shareBelow(c.sketch!, lo!) : 0) + (above ? 1 - c.sketch!.cdf(hi!) : 0);
    const blocking = share > config.maxOutOfRangeShare;
    const ex = c.outOfRangeExample;
    const x = ex?.value !== undefined ? Number(ex.value) : NaN;
    report('out_of_range', name,
      `column "${name}": values range over [${val(m.min)}, ${val(m.max)}] with about ${pct(share)} outside the expected [${lo ?? '-inf'}, ${hi ?? 'inf'}] (at most ${pct(config.maxOutOfRangeShare)} tolerated)`,
      { min: m.min, max: m.max, share }, { min: lo, max: hi },
      // Ranges observed on an earlier dataset only warn; a range a person wrote down blocks.
      blocking && curated ? undefined : 'warn',
      { at: ex, what: lo !== undefined && x < lo ? `${ex?.value} is below the minimum ${lo}` : `${ex?.value} is above the maximum ${hi}` });
  }

  function categoryRule(c: ColumnStats, domain: string[]): void {
    if (!c.freq) return;
    const allowed = new Set(domain);
    const valued = c.count - c.missing - c.blank;
    if (valued <= 0) return;
    const unknown = c.freq.top().filter((e) => !allowed.has(e.value));
    const unknownCount = unknown.reduce((s, e) => s + e.count, 0);
    if (unknownCount === 0) return;
    const share = unknownCount / valued;
    const examples = unknown.slice(0, 5).map((e) => `"${e.value}"`).join(', ');
    let first: { value: string; at: RowLocation } | undefined;
    for (const e of unknown) {
      const at = c.firsts?.of(e.value);
      if (at && (!first || isBefore(at, first.at))) first = { value: e.value, at };
    }
    report('unexpected_category', c.name,
      `column "${c.name}": ${pct(share)} of values are categories the schema does not know (${examples}${unknown.length > 5 ? ', ...' : ''}), expected at most ${pct(config.maxNewCategoryShare)}`,
      share, config.maxNewCategoryShare, share > config.maxNewCategoryShare ? undefined : 'warn',
      first ? { at: first.at, what: `${quoted(first.value)} is not in the schema's domain` } : undefined);
  }

  /**
   * A drift measure against its thresholds: above the blocking one it blocks (unless the rule is off), above the
   * warning one it has the rule's severity. Returns the verdict and the words that say which threshold was crossed.
   */
  function tier(rule: RuleId, column: string, measure: DriftMeasure, value: number, unit = ''): { level: 'block' | 'warn'; words: string } | undefined {
    const t = driftThreshold(config, column, measure);
    if (!(value > t.warn)) return undefined;
    if (t.block !== null && value > t.block && severity(rule, column) !== 'off') {
      return { level: 'block', words: `above the blocking threshold ${t.block}${unit} (${t.blockField}; warns above ${t.warn}${unit})` };
    }
    return { level: 'warn', words: `above the warning threshold ${t.warn}${unit} (${t.warnField}; blocks above ${t.block === null ? 'never' : `${t.block}${unit}`})` };
  }

  function driftRules(c: ColumnStats, b: ColumnStats): void {
    const name = c.name;
    if (c.kind === 'categorical' && c.freq && b.freq) {
      const d = linf(c.freq.top(), b.freq.top());
      const t = tier('drift_categorical', name, 'categoricalLinf', d.distance);
      if (t) {
        report('drift_categorical', name, `column "${name}": category "${d.value}" moved from ${pct(d.base)} to ${pct(d.cur)} of values (L-infinity distance ${d.distance.toFixed(3)}), ${t.words}`,
          d.distance, driftThreshold(config, name, 'categoricalLinf'), t.level === 'block' ? 'block' : undefined);
      }
    }
    if (c.kind === 'numeric' && c.moments!.n > 0 && b.moments!.n > 0) {
      const js = jensenShannon(c.sketch!, b.sketch!);
      const t = tier('drift_numeric', name, 'numericJs', js);
      if (t) {
        report('drift_numeric', name, `column "${name}": Jensen-Shannon divergence ${js.toFixed(3)} from the champion's distribution (over its deciles), ${t.words}`,
          js, driftThreshold(config, name, 'numericJs'), t.level === 'block' ? 'block' : undefined);
      }
      const cm = c.moments!;
      const bm = b.moments!;
      if (bm.std > 0) {
        const shift = Math.abs(cm.mean - bm.mean) / bm.std;
        const ratio = cm.std / bm.std;
        // A ratio counts both ways: a std that shrank to a fifth is as far off as one that grew fivefold.
        const spread = ratio > 0 ? Math.max(ratio, 1 / ratio) : Infinity;
        const ts = tier('distribution_shift', name, 'meanShiftStd', shift, ' std');
        const tr = tier('distribution_shift', name, 'stdRatio', spread, 'x');
        if (ts || tr) {
          const crossed = [ts ? `the mean shift is ${ts.words}` : '', tr ? `the std ratio is ${tr.words}` : ''].filter(Boolean).join('; ');
          const blocks = ts?.level === 'block' || tr?.level === 'block';
          report('distribution_shift', name,
            `column "${name}": mean ${val(cm.mean)} and std ${val(cm.std)} against the champion's ${val(bm.mean)} and ${val(bm.std)} (mean shift ${shift.toFixed(2)} std, std ratio ${ratio.toFixed(2)}): ${crossed}`,
            { mean: cm.mean, std: cm.std, shift, ratio }, { mean: bm.mean, std: bm.std, meanShiftStd: driftThreshold(config, name, 'meanShiftStd'), stdRatio: driftThreshold(config, name, 'stdRatio') },
            blocks ? 'block' : undefined);
        }
      }
    }
  }
}

/** Share of values below x (strictly below its bin). */
function shareBelow(s: DDSketch, x: number): number {
  return s.cdf(x - Math.abs(x) * s.alpha * 2.5 - Number.MIN_VALUE);
}

/** L-infinity distance between two category distributions (shares of the listed counts). */
export function linf(cur: { value: string; count: number }[], base: { value: string; count: number }[]) {
  const ct = cur.reduce((s, e) => s + e.count, 0) || 1;
  const bt = base.reduce((s, e) => s + e.count, 0) || 1;
  const values = new Set([...cur.map((e) => e.value), ...base.map((e) => e.value)]);
  const cm = new Map(cur.map((e) => [e.value, e.count / ct]));
  const bm = new Map(base.map((e) => [e.value, e.count / bt]));
  let best = { distance: 0, value: '', cur: 0, base: 0 };
  for (const v of values) {
    const d = Math.abs((cm.get(v) ?? 0) - (bm.get(v) ?? 0));
    if (d > best.distance) best = { distance: d, value: v, cur: cm.get(v) ?? 0, base: bm.get(v) ?? 0 };
  }
  return best;
}

/**
 * Jensen-Shannon divergence (base 2, in [0, 1]) between two numeric distributions, over the bins that the
 * baseline's deciles define (so it does not grow with sampling noise in fine bins).
 */
export function jensenShannon(cur: DDSketch, base: DDSketch): number {
  const edges = [...new Set([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((q) => base.quantile(q)!))].sort((a, b) => a - b);
  const masses = (s: DDSketch) => {
    const cdfs = edges.map((e) => s.cdf(e));
    return [...cdfs, 1].map((c, i) => Math.max(0, c - (i > 0 ? cdfs[i - 1] : 0)));
  };
  const p = masses(cur);
  const q = masses(base);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i] + q[i]) / 2;
    if (p[i] > 0) js += 0.5 * p[i] * Math.log2(p[i] / m);
    if (q[i] > 0) js += 0.5 * q[i] * Math.log2(q[i] / m);
  }
  return Math.min(1, Math.max(0, js));
}

/** The state machine's one-line summary, and DataValidationFailed's message, in words. */
export function describe(anomalies: Anomaly[], rows: number, columns: number, schemaSource: string): { summary: string; blocking: Anomaly[] } {
  const blocking = anomalies.filter((a) => a.severity === 'block');
  const warnings = anomalies.length - blocking.length;
  const head = `validated ${rows.toLocaleString('en-US')} rows x ${columns} columns against the ${schemaSource} schema`;
  if (blocking.length === 0) {
    return { summary: `${head}: no blocking anomalies, ${warnings} warning(s)${warnings ? `: ${anomalies.map((a) => a.message).join('; ')}` : ''}`.slice(0, 2000), blocking };
  }
  return { summary: `${head}: ${blocking.length} blocking anomal${blocking.length === 1 ? 'y' : 'ies'}: ${blocking.map((a) => `[${a.rule}] ${a.message}`).join('; ')}; ${warnings} warning(s)`.slice(0, 4000), blocking };
}
