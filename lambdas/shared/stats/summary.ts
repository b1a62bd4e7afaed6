import { DatasetStats } from './engine';

const r = (x: number | null | undefined, d = 6) => (x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toPrecision(d)));

/** The human-readable part of stats.json: what a person (or a report) reads; the sketches stay alongside. */
export function summarize(stats: DatasetStats) {
  return {
    rows: stats.rows,
    duplicateRowsEstimate: stats.duplicateRows,
    duplicateRowsError: `HyperLogLog p=${stats.rowHll.p}: +/- ${(100 * stats.rowHll.standardError).toFixed(1)}% of distinct rows (1 sigma)`,
    ...(stats.labelColumn ? { labelColumn: stats.labelColumn, labelBalance: stats.column(stats.labelColumn)?.freq?.top(20) ?? [] } : {}),
    columns: stats.columns.map((c) => {
      const valued = c.count - c.missing;
      return {
        name: c.name,
        kind: c.kind,
        count: c.count,
        missing: c.missing,
        missingShare: r(c.count ? c.missing / c.count : 0),
        typeConsistency: r(valued > 0 ? 1 - c.typeErrors / valued : 1),
        distinctEstimate: c.hll.estimate(),
        ...(c.moments
          ? {
              numeric: {
                n: c.moments.n,
                mean: r(c.moments.mean),
                std: r(c.moments.std),
                min: r(c.moments.n ? c.moments.min : null),
                max: r(c.moments.n ? c.moments.max : null),
                nan: c.nan,
                infinite: c.posInf + c.negInf,
                quantiles: Object.fromEntries([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99].map((q) => [`p${Math.round(q * 100)}`, r(c.sketch!.quantile(q))])),
                quantileRelativeError: c.sketch!.alpha,
              },
            }
          : {}),
        ...(c.length
          ? { text: { meanBytes: r(c.length.mean), maxBytes: c.length.n ? c.length.max : null, blank: c.blank, emptyShare: r(c.count ? (c.missing + c.blank) / c.count : 0) } }
          : {}),
        ...(c.freq ? { top: c.freq.top(10), topExact: c.freq.exact, topMaxError: c.freq.maxError } : {}),
      };
    }),
  };
}
