import { RuleId, Severity, ValidationConfig } from '../config/validation';
import { DDSketch } from './ddsketch';
import { ColumnStats, DatasetStats } from './engine';
import { DatasetSchema } from './schema';

/**
 * The anomaly rules: pure functions of the new dataset's merged statistics, the expected schema and the
 * champion's baseline statistics. Each anomaly has a rule id, a severity (block or warn, configurable per
 * rule and per column) and a message that names the column and gives the observed and expected values.
 */

export interface Anomaly {
  readonly rule: RuleId;
  readonly severity: 'block' | 'warn';
  readonly column?: string;
  readonly message: string;
  readonly observed?: unknown;
  readonly expected?: unknown;
}

/** Built-in severities. Drift and row-count swings warn: they may be the very change a retrain is for. */
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
  single_class: 'block',
  class_imbalance: 'warn',
  label_leakage: 'block',
  duplicate_rows: 'block',
  drift_categorical: 'warn',
  drift_numeric: 'warn',
  distribution_shift: 'block',
};

export interface RuleInput {
  readonly stats: DatasetStats;
  /** What the data should look like: curated, the champion's, or inferred from this dataset (first run). */
  readonly schema: DatasetSchema;
  /** The champion's statistics (absent on the first run). */
  readonly baseline?: DatasetStats;
  readonly config: ValidationConfig;
  readonly labelColumn: string;
  readonly classification: boolean;
  /** Columns that identify rows (the id column, `_row_id`): no leakage or drift checks on them. */
  readonly idColumns?: readonly string[];
}

const pct = (x: number) => `${(100 * x).toFixed(x !== 0 && Math.abs(x) < 0.001 ? 3 : 1)}%`;
/** Counts with thousands separators; */
const num = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : Number(x.toPrecision(6)).toString());
/** values plain (a range "[1, 3544]" must not read as three numbers). */
const val = (x: number) => Number(x.toPrecision(6)).toString();

export function applyRules(input: RuleInput): Anomaly[] {
  const { stats, schema, baseline, config, labelColumn } = input;
  const out: Anomaly[] = [];
  const severity = (rule: RuleId, column?: string): Severity =>
    (column !== undefined ? config.columns[column]?.[rule] : undefined) ?? config.rules[rule] ?? DEFAULT_SEVERITY[rule];
  const report = (rule: RuleId, column: string | undefined, message: string, observed?: unknown, expected?: unknown, cap?: 'warn') => {
    const s = severity(rule, column);
    if (s === 'off') return;
    out.push({ rule, severity: cap ?? s, ...(column !== undefined ? { column } : {}), message, observed, expected });
  };
  const ids = new Set(input.idColumns ?? []);
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

  // 2. Columns against the schema.
  const present = new Map(stats.columns.map((c) => [c.name, c]));
  for (const col of schema.columns) {
    if (!present.has(col.name) && col.required && col.name !== labelColumn) {
      report('missing_column', col.name, `column "${col.name}" is missing (required by the ${schema.source} schema)`, 'absent', 'present');
    }
  }
  if (schema.source !== 'inferred') {
    const known = new Set(schema.columns.map((c) => c.name));
    for (const c of stats.columns) {
      if (!known.has(c.name) && !ids.has(c.name)) report('new_column', c.name, `column "${c.name}" is new: the ${schema.source} schema does not have it`, 'present', 'absent');
    }
  }

  for (const c of stats.columns) {
    const expected = schema.columns.find((s) => s.name === c.name);
    const name = c.name;
    const valued = c.count - c.missing;
    // wrong type
    if (expected && expected.type !== c.kind) {
      report('wrong_type', name, `column "${name}" holds ${c.kind} values, expected ${expected.type}`, c.kind, expected.type);
    } else if (c.kind === 'numeric' && valued > 0 && c.typeErrors / valued > config.maxTypeErrorShare) {
      const ex = c.typeErrorExample;
      report('wrong_type', name,
        `column "${name}": ${num(c.typeErrors)} of ${num(valued)} values (${pct(c.typeErrors / valued)}) are not numbers${ex ? ` (e.g. "${ex.value}" at ${ex.file ? `${ex.file} ` : ''}line ${ex.line})` : ''}, expected numeric`,
        c.typeErrors / valued, config.maxTypeErrorShare);
    }
    // missing share (the label has its own rule)
    if (name !== labelColumn && c.count > 0) {
      const share = c.missing / c.count;
      // A schema inferred from this very dataset is no baseline for its own missing values.
      const base = schema.source === 'inferred' ? 0 : (expected?.missingShare ?? 0);
      const limit = Math.max(config.maxMissingShare, base + config.maxMissingIncrease);
      if (share > limit) {
        report('missing_share', name, `column "${name}": ${pct(share)} of values are missing, expected at most ${pct(limit)} (baseline ${pct(base)})`, share, limit);
      }
    }
    if (c.kind === 'numeric') numericRules(c, expected, schema.source === 'curated');
    if (c.kind === 'categorical' && expected?.domain && !ids.has(name)) categoryRule(c, expected.domain);
    if (c.kind === 'text' && c.count > 0 && !ids.has(name)) {
      const share = (c.missing + c.blank) / c.count;
      if (share > config.maxEmptyTextShare) {
        report('empty_text', name, `column "${name}": ${pct(share)} of texts are empty or blank, expected at most ${pct(config.maxEmptyTextShare)}`, share, config.maxEmptyTextShare);
      }
    }
    // leakage: a feature that equals the label row by row
    if (name !== labelColumn && !ids.has(name) && rows >= 10 && present.has(labelColumn)) {
      const share = c.equalToLabel / rows;
      if (share >= config.leakageShare) {
        report('label_leakage', name, `column "${name}" is identical to the label "${labelColumn}" on ${pct(share)} of rows: it leaks the label`, share, `< ${pct(config.leakageShare)}`);
      }
    }
    // drift against the champion's baseline
    const b = baseline?.column(name);
    if (b && b.kind === c.kind && !ids.has(name) && name !== labelColumn) driftRules(c, b);
  }

  // 3. The label.
  const label = present.get(labelColumn);
  if (!label) {
    report('label_missing', labelColumn, `the label column "${labelColumn}" is missing`, 'absent', 'present');
  } else if (label.count > 0) {
    const share = label.missing / label.count;
    if (share > config.maxLabelMissingShare) {
      report('label_missing', labelColumn, `the label "${labelColumn}" is missing in ${num(label.missing)} of ${num(label.count)} rows (${pct(share)}), expected at most ${pct(config.maxLabelMissingShare)}`, share, config.maxLabelMissingShare);
    }
    if (input.classification && label.freq) {
      const classes = label.freq.top().filter((e) => e.count > 0);
      const labelled = classes.reduce((s, e) => s + e.count, 0);
      if (classes.length < 2) {
        report('single_class', labelColumn, `the label "${labelColumn}" has ${classes.length === 0 ? 'no values' : `a single class ("${classes[0].value}")`}, expected at least 2 classes`, classes.length, 2);
      } else {
        const rare = classes[classes.length - 1];
        if (rare.count / labelled < config.minClassShare) {
          report('class_imbalance', labelColumn, `the label's rarest class "${rare.value}" holds ${pct(rare.count / labelled)} of rows, expected at least ${pct(config.minClassShare)}`, rare.count / labelled, config.minClassShare);
        }
      }
    }
  }
  return out;

  function numericRules(c: ColumnStats, expected: DatasetSchema['columns'][number] | undefined, curated: boolean): void {
    const name = c.name;
    const nonFinite = c.nan + c.posInf + c.negInf;
    if (nonFinite > 0) {
      report('non_finite', name, `column "${name}" has ${num(c.nan)} NaN and ${num(c.posInf + c.negInf)} infinite values, expected none`, nonFinite, 0);
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
    report('out_of_range', name,
      `column "${name}": values range over [${val(m.min)}, ${val(m.max)}] with about ${pct(share)} outside the expected [${lo ?? '-inf'}, ${hi ?? 'inf'}] (at most ${pct(config.maxOutOfRangeShare)} tolerated)`,
      { min: m.min, max: m.max, share }, { min: lo, max: hi },
      // Ranges observed on an earlier dataset only warn; a range a person wrote down blocks.
      blocking && curated ? undefined : 'warn');
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
    report('unexpected_category', c.name,
      `column "${c.name}": ${pct(share)} of values are categories the schema does not know (${examples}${unknown.length > 5 ? ', ...' : ''}), expected at most ${pct(config.maxNewCategoryShare)}`,
      share, config.maxNewCategoryShare, share > config.maxNewCategoryShare ? undefined : 'warn');
  }

  function driftRules(c: ColumnStats, b: ColumnStats): void {
    const name = c.name;
    if (c.kind === 'categorical' && c.freq && b.freq) {
      const d = linf(c.freq.top(), b.freq.top());
      if (d.distance > config.drift.categoricalLinf) {
        report('drift_categorical', name, `column "${name}": category "${d.value}" moved from ${pct(d.base)} to ${pct(d.cur)} of values (L-infinity distance ${d.distance.toFixed(3)}), expected at most ${config.drift.categoricalLinf}`, d.distance, config.drift.categoricalLinf);
      }
    }
    if (c.kind === 'numeric' && c.moments!.n > 0 && b.moments!.n > 0) {
      const js = jensenShannon(c.sketch!, b.sketch!);
      if (js > config.drift.numericJs) {
        report('drift_numeric', name, `column "${name}": Jensen-Shannon divergence ${js.toFixed(3)} from the champion's distribution (over its deciles), expected at most ${config.drift.numericJs}`, js, config.drift.numericJs);
      }
      const cm = c.moments!;
      const bm = b.moments!;
      if (bm.std > 0) {
        const shift = Math.abs(cm.mean - bm.mean) / bm.std;
        const ratio = cm.std / bm.std;
        const r = config.drift.stdRatio;
        if (shift > config.drift.meanShiftStd || ratio > r || ratio < 1 / r) {
          report('distribution_shift', name,
            `column "${name}": mean ${val(cm.mean)} and std ${val(cm.std)} against the champion's ${val(bm.mean)} and ${val(bm.std)} (mean shift ${shift.toFixed(2)} std, std ratio ${ratio.toFixed(2)}), expected a shift of at most ${config.drift.meanShiftStd} std and a ratio within x${r}`,
            { mean: cm.mean, std: cm.std }, { mean: bm.mean, std: bm.std });
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
