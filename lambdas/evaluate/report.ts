import { LOWER_IS_BETTER, PER_CLASS_METRICS, perClassMetric } from '../shared/config/evaluation';
import { describeGates } from '../shared/metrics/gates';
import type { CalibrationBin, ClassCurves, Confusion, CurvePoint, Estimate, GateResult, MetricComparison, SliceMetrics } from '../shared/metrics';
import type { EvaluationDocument } from './core';

/**
 * report.html: one self-contained page (inline CSS and SVG, no script, no external asset) that says
 * whether the candidate deploys and why, and shows the evidence.
 */
export function renderReport(doc: EvaluationDocument): string {
  const deploy = doc.decision.deploy;
  const [headline, ...reasons] = doc.decision.reasons;
  const sections = [
    verdict(doc, headline, reasons),
    comparison(doc),
    perClassTable(doc),
    charts(doc),
    gatesTable(doc.gates),
    slicesTable(doc),
    biasSection(doc),
    validationSection(doc),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>relearn ${esc(doc.executionName)}: ${deploy ? (doc.approval === 'manual' ? 'awaits approval' : 'deploy') : 'not deployed'}</title>
<style>${CSS}</style></head>
<body><main>
${sections.join('\n')}
<footer>Gate: ${esc(describeGates(doc.gatesConfig))} (${doc.gatesSource === 'default' ? 'the safe default: no gates configured' : 'from the configuration'}).
Intervals: ${Math.round(doc.confidence * 100)}% confidence. Every number is in evaluation.json next to this file. Generated ${esc(doc.createdAt)}.</footer>
</main></body></html>
`;
}

/** The decision report's style sheet (the monitoring report uses it too, so both read alike). */
export const CSS = `
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de;--cand:#0969da;--champ:#8250df}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 12px}h3{font-size:14px;margin:8px 0}
.verdict{border-left:8px solid var(--bad)}.verdict.ok{border-left-color:var(--ok)}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px;background:var(--bad)}
.badge.ok{background:var(--ok)}.badge.skip{background:var(--muted)}.badge.noise{background:var(--warn)}
.meta{color:var(--muted);font-size:12.5px}
ul.reasons{margin:8px 0 0;padding-left:20px}ul.reasons li{margin:2px 0}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.primary td{font-weight:600;background:#ddf4ff}
td.fail,span.fail{background:#ffebe9;color:var(--bad);font-weight:600}td.pass{color:var(--ok)}
.ci{color:var(--muted);font-size:11.5px}.better{color:var(--ok)}.worse{color:var(--bad)}
.grid{display:flex;flex-wrap:wrap;gap:16px}.grid figure{margin:0;flex:0 0 auto}
figcaption{font-size:12.5px;color:var(--muted);text-align:center}
.cm td{width:90px;text-align:center;font-variant-numeric:tabular-nums}.cm th{text-align:center}
.legend span{display:inline-block;margin-right:14px;font-size:12.5px}.sw{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
.small{color:var(--muted)}footer{color:var(--muted);font-size:12px;padding:4px 4px 24px}
.warning{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:10px 0 0}
.scroll{overflow-x:auto}td.pc{text-align:right;font-variant-numeric:tabular-nums;line-height:1.35}.cm.k td{width:auto;min-width:64px}.cm.k th.actual{text-align:right;white-space:nowrap}

`;

export function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const num = (x: number | null | undefined, d = 4) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : Number(x.toFixed(d)).toString());
const sgn = (x: number | null | undefined, d = 4) => (x === null || x === undefined ? '–' : (x > 0 ? '+' : '') + num(x, d));
const ci = (e: Estimate | null | undefined) => (e && e.lo !== null && e.hi !== null ? `<span class="ci">[${num(e.lo, 3)}, ${num(e.hi, 3)}]</span>` : '');
const LOWER = LOWER_IS_BETTER;
/** Line colours for one curve per class (Tableau 10; more classes cycle through hues). */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const colourOf = (k: number) => (k < PALETTE.length ? PALETTE[k] : `hsl(${(k * 137.5) % 360} 65% 42%)`);

function verdict(doc: EvaluationDocument, headline: string, reasons: string[]): string {
  const ok = doc.decision.deploy;
  const p = doc.overall.metrics[doc.primaryMetric];
  const primary = p
    ? `${esc(doc.primaryMetric)}: <b>${num(p.candidate.value)}</b>${p.champion ? ` vs champion ${num(p.champion.value)} (${sgn(p.diff?.value)})` : ''}`
    : '';
  return `<section class="verdict${ok ? ' ok' : ''}">
<h1><span class="badge${ok ? ' ok' : ''}">${ok ? (doc.approval === 'manual' ? 'PASSED: AWAITS APPROVAL' : 'DEPLOY') : 'DO NOT DEPLOY'}</span> ${esc(headline)}</h1>
<div class="meta">Run <b>${esc(doc.executionName)}</b> · dataset ${esc(doc.datasetId ?? '–')} · ${doc.rows.predictions.toLocaleString('en-US')} validation rows
 · ${doc.firstRun ? 'first run (no champion)' : `champion ${esc(doc.champion?.executionName ?? doc.champion?.modelPackageArn ?? 'scored on the same rows')}`} · ${primary}</div>
${doc.warnings.map((w) => `<p class="warning">⚠ ${esc(w)}</p>`).join('')}
<ul class="reasons">${reasons.filter((r) => !doc.warnings.includes(r)).map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
</section>`;
}

function comparison(doc: EvaluationDocument): string {
  // per-class metrics have their own table
  const rows = Object.entries(doc.overall.metrics)
    .filter(([name]) => !perClassMetric(name))
    .map(([name, m]) => metricRow(name, m, name === doc.primaryMetric, doc.firstRun));
  const extra =
    doc.overall.positives !== null
      ? ` · ${doc.overall.positives.toLocaleString('en-US')} positives${doc.classes ? ` (${esc(doc.classes[1])})` : ''}`
      : doc.classes && doc.overall.support
        ? ` · ${doc.classes.length} classes · predicted class = the most probable`
        : '';
  return `<section><h2>Candidate vs champion</h2>
<p class="meta">${doc.overall.rows.toLocaleString('en-US')} rows${extra}${doc.problemType === 'binary_classification' ? ` · threshold ${doc.threshold}` : ''} · lower is better for ${[...LOWER].filter((m) => m in doc.overall.metrics).join(', ') || '–'}</p>
<table><thead><tr><th>metric</th><th>candidate</th><th>champion</th><th>difference (candidate − champion)</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></section>`;
}

function metricRow(name: string, m: MetricComparison, primary: boolean, firstRun: boolean): string {
  const d = m.diff?.value;
  const better = d === null || d === undefined || d === 0 ? '' : (LOWER.has(name) ? d < 0 : d > 0) ? 'better' : 'worse';
  return `<tr${primary ? ' class="primary"' : ''}><td>${esc(name)}${m.note ? ` <span class="ci">(${esc(m.note)})</span>` : ''}</td>
<td class="num">${num(m.candidate.value)} ${ci(m.candidate)}</td>
<td class="num">${firstRun ? '<span class="small">no champion</span>' : `${num(m.champion?.value)} ${ci(m.champion)}`}</td>
<td class="num ${better}">${firstRun ? '' : `${sgn(d)} ${ci(m.diff)}`}</td></tr>`;
}

// ---- charts ------------------------------------------------------------------------------------------

interface Series {
  readonly name: string;
  readonly points: readonly CurvePoint[];
  readonly color: string;
  readonly dots?: boolean;
  readonly bars?: readonly { x: number; lo: number; hi: number }[];
}

const W = 310;
const H = 260;
const PAD = { l: 54, r: 18, t: 10, b: 36 };

function chart(title: string, xLabel: string, yLabel: string, series: Series[], opts: { diagonal?: 'up' | 'none'; domain?: [number, number, number, number] } = {}): string {
  const [x0, x1, y0, y1] = opts.domain ?? [0, 1, 0, 1];
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const sx = (x: number) => PAD.l + ((x - x0) / (x1 - x0 || 1)) * iw;
  const sy = (y: number) => PAD.t + ih - ((y - y0) / (y1 - y0 || 1)) * ih;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map((t) => {
      const xv = x0 + t * (x1 - x0);
      const yv = y0 + t * (y1 - y0);
      return `<line x1="${sx(xv)}" y1="${PAD.t}" x2="${sx(xv)}" y2="${PAD.t + ih}" stroke="#eaeef2"/><line x1="${PAD.l}" y1="${sy(yv)}" x2="${PAD.l + iw}" y2="${sy(yv)}" stroke="#eaeef2"/>
<text x="${sx(xv)}" y="${PAD.t + ih + 14}" font-size="10" text-anchor="middle" fill="#57606a">${num(xv, 2)}</text><text x="${PAD.l - 5}" y="${sy(yv) + 3}" font-size="10" text-anchor="end" fill="#57606a">${num(yv, 2)}</text>`;
    })
    .join('');
  const diag = opts.diagonal === 'up' ? `<line x1="${sx(x0)}" y1="${sy(y0)}" x2="${sx(x1)}" y2="${sy(y1)}" stroke="#8c959f" stroke-dasharray="4 4"/>` : '';
  const body = series
    .map((s) => {
      const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
      const bars = (s.bars ?? []).map((b) => `<line x1="${sx(b.x)}" y1="${sy(b.lo)}" x2="${sx(b.x)}" y2="${sy(b.hi)}" stroke="${s.color}" stroke-width="1.2" opacity="0.7"/>`).join('');
      if (s.dots) return bars + pts.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.6" fill="${s.color}" fill-opacity="0.75"/>`).join('');
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
      return `${bars}<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`;
    })
    .join('');
  const legend = series.map((s) => `<span><i class="sw" style="background:${s.color}"></i>${esc(s.name)}</span>`).join('');
  return `<figure><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
<rect x="${PAD.l}" y="${PAD.t}" width="${iw}" height="${ih}" fill="#fff" stroke="#d0d7de"/>${grid}${diag}${body}
<text x="${PAD.l + iw / 2}" y="${H - 6}" font-size="11" text-anchor="middle" fill="#1f2328">${esc(xLabel)}</text>
<text x="12" y="${PAD.t + ih / 2}" font-size="11" text-anchor="middle" fill="#1f2328" transform="rotate(-90 12 ${PAD.t + ih / 2})">${esc(yLabel)}</text></svg>
<figcaption><b>${esc(title)}</b><div class="legend">${legend}</div></figcaption></figure>`;
}

const calSeries = (name: string, bins: readonly CalibrationBin[], color: string): Series => {
  const b = bins.filter((x) => x.rows > 0 && x.meanScore !== null && x.positiveRate !== null);
  return {
    name,
    color,
    points: b.map((x) => ({ x: x.meanScore!, y: x.positiveRate! })),
    bars: b.map((x) => ({ x: x.meanScore!, lo: x.positiveRateLo ?? x.positiveRate!, hi: x.positiveRateHi ?? x.positiveRate! })),
  };
};

function confusionTable(title: string, c: Confusion, classes: readonly string[] | null): string {
  const n = c.tp + c.fp + c.tn + c.fn || 1;
  const [c0, c1] = classes ? classes.map(esc) : ['0', '1'];
  const cell = (v: number, good: boolean) =>
    `<td style="background:rgba(${good ? '26,127,55' : '207,34,46'},${(0.08 + (0.5 * v) / n).toFixed(3)})">${v.toLocaleString('en-US')}<br><span class="ci">${((100 * v) / n).toFixed(1)}%</span></td>`;
  return `<figure><table class="cm"><caption><b>${esc(title)}</b></caption><thead><tr><th></th><th>predicted ${c0}</th><th>predicted ${c1}</th></tr></thead>
<tbody><tr><th>actual ${c0}</th>${cell(c.tn, true)}${cell(c.fp, false)}</tr><tr><th>actual ${c1}</th>${cell(c.fn, false)}${cell(c.tp, true)}</tr></tbody></table></figure>`;
}

/** A K x K confusion matrix: rows = actual class, columns = predicted class; shaded by the share of the row. */
function matrixTable(title: string, m: readonly (readonly number[])[], classes: readonly string[]): string {
  const head = classes.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = m
    .map((row, a) => {
      const total = row.reduce((x, v) => x + v, 0) || 1;
      const cells = row
        .map((v, p) => {
          const share = v / total;
          const rgb = a === p ? '26,127,55' : '207,34,46';
          return `<td style="background:rgba(${rgb},${(v ? 0.06 + 0.6 * share : 0).toFixed(3)})">${v.toLocaleString('en-US')}<br><span class="ci">${(100 * share).toFixed(1)}%</span></td>`;
        })
        .join('');
      return `<tr><th class="actual">${esc(classes[a])}</th>${cells}<td class="num small">${row.reduce((x, v) => x + v, 0).toLocaleString('en-US')}</td></tr>`;
    })
    .join('');
  return `<figure class="scroll"><table class="cm k"><caption><b>${esc(title)}</b> <span class="small">(rows: actual class, columns: predicted; % of the row)</span></caption>
<thead><tr><th>actual \\ predicted</th>${head}<th class="small">rows</th></tr></thead><tbody>${body}</tbody></table></figure>`;
}

/** One ROC curve per class, one-vs-rest, for one model. */
function classRocChart(title: string, curves: readonly CurvePoint[][], classes: readonly string[]): string {
  return chart(title, 'false positive rate', 'true positive rate', curves.map((points, k) => ({ name: classes[k], points, color: colourOf(k) })), { diagonal: 'up' });
}

function charts(doc: EvaluationDocument): string {
  const cand = '#0969da';
  const champ = '#8250df';
  if (doc.curves) {
    const c = doc.curves;
    const s = (pick: (m: NonNullable<typeof c.champion>) => readonly CurvePoint[]) => [
      { name: 'candidate', points: pick(c.candidate), color: cand },
      ...(c.champion ? [{ name: 'champion', points: pick(c.champion), color: champ }] : []),
    ];
    const cm = doc.overall.confusion!;
    return `<section><h2>Curves and confusion matrices</h2><div class="grid">
${chart('ROC curve', 'false positive rate', 'true positive rate', s((m) => m.roc), { diagonal: 'up' })}
${chart('Precision-recall curve', 'recall', 'precision', s((m) => m.pr))}
${chart('Calibration (reliability)', 'mean predicted probability', 'observed positive rate', [calSeries('candidate', c.candidate.calibration, cand), ...(c.champion ? [calSeries('champion', c.champion.calibration, champ)] : [])], { diagonal: 'up' })}
</div><div class="grid">${confusionTable(`Candidate at threshold ${doc.threshold}`, cm.candidate, doc.classes)}${cm.champion ? confusionTable(`Champion at threshold ${doc.threshold}`, cm.champion, doc.classes) : ''}</div></section>`;
  }
  if (doc.classCurves && doc.overall.matrix && doc.classes) {
    const c: ClassCurves = doc.classCurves;
    const m = doc.overall.matrix;
    return `<section><h2>One-vs-rest ROC curves and confusion matrices</h2><div class="grid">
${classRocChart('ROC per class, candidate (one-vs-rest)', c.candidate, c.classes)}
${c.champion ? classRocChart('ROC per class, champion (one-vs-rest)', c.champion, c.classes) : ''}
</div><div class="grid">${matrixTable('Candidate', m.candidate, doc.classes)}${m.champion ? matrixTable('Champion', m.champion, doc.classes) : ''}</div></section>`;
  }
  if (doc.regressionPlot) {
    const r = doc.regressionPlot;
    const all = [...r.candidate, ...(r.champion ?? [])];
    const lo = Math.min(...all.map((p) => Math.min(p.x, p.y)));
    const hi = Math.max(...all.map((p) => Math.max(p.x, p.y)));
    return `<section><h2>Predicted vs actual</h2><div class="grid">
${chart('Candidate', 'actual', 'predicted', [{ name: 'candidate', points: r.candidate, color: cand, dots: true }], { diagonal: 'up', domain: [lo, hi, lo, hi] })}
${r.champion ? chart('Champion', 'actual', 'predicted', [{ name: 'champion', points: r.champion, color: champ, dots: true }], { diagonal: 'up', domain: [lo, hi, lo, hi] }) : ''}
</div></section>`;
  }
  return '';
}

function gatesTable(gates: readonly GateResult[]): string {
  const order = (g: GateResult) => (g.pass ? (g.status === 'skipped' ? 2 : 1) : 0);
  const sorted = [...gates].sort((a, b) => order(a) - order(b));
  const shown = sorted.slice(0, 300);
  const badge = (g: GateResult) =>
    g.status === 'skipped' ? '<span class="badge skip">skipped</span>' : g.withinNoise ? `<span class="badge noise">${g.pass ? 'pass' : 'fail'} (noise)</span>` : `<span class="badge${g.pass ? ' ok' : ''}">${g.pass ? 'pass' : 'fail'}</span>`;
  return `<section><h2>Gate checks (${gates.filter((g) => !g.pass).length} failed, ${gates.filter((g) => g.pass && g.status !== 'skipped').length} passed, ${gates.filter((g) => g.status === 'skipped').length} skipped)</h2>
<div><table><thead><tr><th></th><th>check</th><th>observed</th><th>threshold</th><th>why</th></tr></thead><tbody>
${shown.map((g) => `<tr><td>${badge(g)}</td><td>${esc(g.id)}</td><td class="num">${num(g.observed)}${g.interval ? ` <span class="ci">[${num(g.interval[0], 3)}, ${num(g.interval[1], 3)}]</span>` : ''}</td><td class="num">${thresholdCell(g)}</td><td>${esc(g.reason)}</td></tr>`).join('')}
</tbody></table>${sorted.length > shown.length ? `<p class="small">${sorted.length - shown.length} more checks (all passed or skipped) are in evaluation.json.</p>` : ''}</div></section>`;
}

function thresholdCell(g: GateResult): string {
  if (!g.kind.includes('regression')) return num(g.threshold);
  if (g.relativeTolerance === undefined) return `−${num(g.threshold)}`;
  const rel = `${Number((g.relativeTolerance * 100).toPrecision(4))}%`;
  return g.observed === null ? `−${rel} of champion` : `−${num(g.threshold)} <span class="ci">(${rel} of champion)</span>`;
}

/** Multiclass: precision, recall, F1 and one-vs-rest ROC AUC of every class, candidate with interval and difference. */
function perClassTable(doc: EvaluationDocument): string {
  if (doc.problemType !== 'multiclass_classification' || !doc.classes) return '';
  const support = doc.overall.support ?? [];
  const cell = (name: string) => {
    const m = doc.overall.metrics[name];
    if (!m) return '<td class="num">–</td>';
    const d = m.diff?.value;
    const dir = d === null || d === undefined || d === 0 ? '' : d > 0 ? 'better' : 'worse';
    const note = m.note ? ` <span class="ci">(${esc(m.note)})</span>` : '';
    return `<td class="pc">${num(m.candidate.value, 3)} ${ci(m.candidate)}${doc.firstRun ? '' : `<br><span class="small">vs ${num(m.champion?.value, 3)}</span> <span class="${dir}">${sgn(d, 3)}</span> ${ci(m.diff)}`}${note}</td>`;
  };
  const rows = doc.classes
    .map((c, k) => `<tr><td>${esc(c)}</td><td class="num">${(support[k] ?? 0).toLocaleString('en-US')}</td>${PER_CLASS_METRICS.map((m) => cell(`${m}:${c}`)).join('')}</tr>`)
    .join('');
  return `<section><h2>Per class (${doc.classes.length} classes)</h2>
<p class="meta">Each cell: candidate [interval]${doc.firstRun ? '' : '; below, vs the champion, and the difference (candidate − champion) [interval]'}. ROC AUC is one class against the rest. Gate a class with e.g. <code>recall:${esc(doc.classes[0])}</code>.</p>
<div class="scroll"><table><thead><tr><th>class</th><th>rows</th><th>precision</th><th>recall</th><th>F1</th><th>ROC AUC (one-vs-rest)</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

function slicesTable(doc: EvaluationDocument): string {
  const items = doc.slices.items;
  if (!items.length) return `<section><h2>Slices</h2><p class="small">No slice columns configured (dataset.sliceColumns).</p></section>`;
  const failing = new Map<string, Set<string>>();
  for (const g of doc.gates) if (!g.pass && g.kind.startsWith('slice_')) (failing.get(g.scope) ?? failing.set(g.scope, new Set()).get(g.scope)!).add(g.metric);
  const gatedMetrics = [...new Set([...Object.keys(doc.gatesConfig.slices?.min ?? {}), ...Object.keys(doc.gatesConfig.slices?.max ?? {}), ...(doc.gatesConfig.slices?.noRegression?.metrics ?? [])])];
  const base =
    doc.problemType === 'regression'
      ? ['rmse', 'mae', 'r2']
      : doc.problemType === 'multiclass_classification'
        ? ['roc_auc_ovr', 'accuracy', 'f1_macro', 'recall_macro']
        : ['roc_auc', 'recall', 'precision', 'positive_rate'];
  // a metric no slice has (multiclass computes the AUC per slice only when it is needed) gets no column
  const metrics = [...new Set([doc.primaryMetric, ...gatedMetrics, ...base])].filter((m) => items.some((s) => m in s.metrics)).slice(0, 5);
  const minRows = doc.gatesConfig.slices?.minRows ?? Infinity;
  const sorted = [...items].sort((a, b) => (failing.has(b.key) ? 1 : 0) - (failing.has(a.key) ? 1 : 0) || a.columns.length - b.columns.length || b.rows - a.rows);
  const shown = sorted.slice(0, 400);
  const cell = (s: SliceMetrics, m: string) => {
    const v = s.metrics[m];
    const bad = failing.get(s.key)?.has(m);
    if (!v) return '<td class="num">–</td>';
    const d = v.diff?.value;
    const dir = d === null || d === undefined || d === 0 ? '' : (LOWER.has(m) ? d < 0 : d > 0) ? 'better' : 'worse';
    return `<td class="num${bad ? ' fail' : ''}">${num(v.candidate.value, 3)}${doc.firstRun ? '' : ` <span class="${dir}">(${sgn(d, 3)})</span>`}${bad ? ' ✗' : ''}</td>`;
  };
  return `<section><h2>Slices (${items.length}${doc.slices.omitted ? `, ${doc.slices.omitted} more omitted` : ''})</h2>
<p class="meta">Each cell: candidate value${doc.firstRun ? '' : ' (difference vs champion)'}. Cells marked ✗ failed a gate. Slices under ${Number.isFinite(minRows) ? minRows : '–'} rows are shown in grey and not gated.</p>
<div><table><thead><tr><th>slice</th><th>rows</th>${doc.problemType === 'binary_classification' ? '<th>positives</th>' : ''}${metrics.map((m) => `<th>${esc(m)}</th>`).join('')}</tr></thead><tbody>
${shown.map((s) => `<tr${s.rows < minRows ? ' class="small"' : ''}><td>${failing.has(s.key) ? '<span class="fail">✗</span> ' : ''}${esc(s.key)}</td><td class="num">${s.rows.toLocaleString('en-US')}</td>${doc.problemType === 'binary_classification' ? `<td class="num">${(s.positives ?? 0).toLocaleString('en-US')}</td>` : ''}${metrics.map((m) => cell(s, m)).join('')}</tr>`).join('')}
</tbody></table>${sorted.length > shown.length ? `<p class="small">${sorted.length - shown.length} more slices in evaluation.json.</p>` : ''}</div></section>`;
}

function biasSection(doc: EvaluationDocument): string {
  if (!doc.bias.length) return '';
  const limit = doc.gatesConfig.bias?.maxGap;
  const blocks = doc.bias.map((b) => {
    const max = Math.max(1e-9, ...b.groups.map((g) => g.candidate.value ?? 0));
    const over = limit !== undefined && b.gap.candidate !== null && b.gap.candidate > limit;
    return `<h3>${esc(b.metric)} by ${esc(b.column)}: gap <span class="${over ? 'fail' : 'pass'}">${num(b.gap.candidate)}</span>${limit !== undefined ? ` (limit ${num(limit)})` : ''}${b.gap.champion !== null ? ` · champion's gap ${num(b.gap.champion)}` : ''}</h3>
<table><thead><tr><th>${esc(b.column)}</th><th>rows</th><th>candidate</th><th></th><th>champion</th></tr></thead><tbody>
${b.groups.map((g) => `<tr${g.rows < b.minRows ? ' class="small"' : ''}><td>${esc(g.value)}</td><td class="num">${g.rows.toLocaleString('en-US')}</td><td class="num">${num(g.candidate.value)} ${ci(g.candidate)}</td><td style="width:30%"><svg width="100%" height="10" viewBox="0 0 100 10" preserveAspectRatio="none"><rect width="${(100 * (g.candidate.value ?? 0)) / max}" height="10" fill="#0969da"/></svg></td><td class="num">${num(g.champion?.value)}</td></tr>`).join('')}
</tbody></table>`;
  });
  return `<section><h2>Bias across groups</h2>${blocks.join('')}<p class="small">Groups under the minimum size (grey) are shown but left out of the gap.</p></section>`;
}

function validationSection(doc: EvaluationDocument): string {
  const v = doc.validation;
  if (!v) return `<section><h2>Data validation</h2><p class="small">No data-validation result in this run's state.</p></section>`;
  return `<section><h2>Data validation of this run</h2>
<p>${esc(v.summary)}</p><p class="meta">${v.blocking} blocking · ${v.warnings} warnings · ${esc(v.anomaliesUri)}${v.note ? ` · ${esc(v.note)}` : ''}</p>
${v.anomalies.length ? `<table><thead><tr><th>severity</th><th>anomaly</th><th>column</th><th>message</th></tr></thead><tbody>${v.anomalies.map((a) => `<tr><td>${esc(a.severity)}</td><td>${esc(a.id)}</td><td>${esc(a.column ?? '')}</td><td>${esc(a.message)}</td></tr>`).join('')}</tbody></table>` : '<p class="small">No anomalies.</p>'}
</section>`;
}
