import { CSS, esc } from '../evaluate/report';
import { ColumnReport, HistogramBin, MonitorReport, PREDICTION_COLUMNS, Verdict, windowText } from './compare';

/**
 * monitoring/<window>/report.html: one self-contained page (inline CSS and SVG, no script, no external asset), in
 * the decision report's style: the verdict in words, the findings, then per feature how far it moved and its
 * histogram, baseline vs live.
 */

const BADGE: Record<Verdict, { text: string; ok: boolean; cls: string }> = {
  ok: { text: 'NO DRIFT', ok: true, cls: 'ok' },
  issues: { text: 'FINDINGS', ok: false, cls: 'noise' },
  drift: { text: 'DRIFT', ok: false, cls: '' },
  insufficient_data: { text: 'TOO FEW RECORDS', ok: false, cls: 'skip' },
  no_baseline: { text: 'NO CHAMPION', ok: false, cls: 'skip' },
};

const EXTRA_CSS = `
.bars{display:flex;flex-wrap:wrap;gap:12px}.bars figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff}
.bars figure.drift{border-color:var(--bad);box-shadow:0 0 0 1px var(--bad) inset}
.base{fill:#8c959f}.live{fill:var(--cand)}tr.drift td{background:#fff8f7}
`;

const int = (x: number) => x.toLocaleString('en-US');
/** A column name as the report shows it (an empty header field is a column too). */
const name = (n: string) => (n === '' ? '<span class="small">(empty name)</span>' : esc(n));
const num = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : Number(x.toFixed(d)).toString());
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)}%`);

export function renderMonitorReport(r: MonitorReport, links: { readonly reportJson?: string } = {}): string {
  const b = BADGE[r.verdict];
  const drifted = r.features.filter((f) => f.drifted);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>relearn monitoring ${esc(r.window.id)}: ${esc(r.headline)}</title>
<style>${CSS}${EXTRA_CSS}</style></head>
<body><main>
<section class="verdict${b.ok ? ' ok' : ''}">
<h1><span class="badge ${b.cls}">${b.text}</span> ${esc(r.headline)}</h1>
<div class="meta">Window <b>${esc(windowText({ start: new Date(r.window.start), end: new Date(r.window.end) }))}</b> · ${int(r.counts.requests)} requests, ${int(r.counts.rows)} rows, ${int(r.counts.predictions)} predictions captured
 · ${r.champion ? `champion <b>${esc(r.champion.executionName)}</b> (promoted ${esc(r.champion.promotedAt)})` : 'no champion'} · ${esc(r.problemType)}</div>
${r.findings.length ? `<ul class="reasons">${r.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : ''}
</section>
${r.features.length ? featureTable(r) : ''}
${drifted.length ? `<section><h2>Drifted features: baseline vs live</h2><div class="bars">${drifted.map((f) => histogram(f, true)).join('')}</div></section>` : ''}
${predictionSection(r)}
${r.features.length ? `<section><h2>Every feature: baseline vs live</h2><div class="bars">${r.features.filter((f) => !f.drifted && f.histogram.length).map((f) => histogram(f, false)).join('')}</div></section>` : ''}
${trafficSection(r)}
<footer>Baselines: the champion's training statistics and schema (${esc(r.champion?.statsUri ?? '–')}), and its predictions on its validation rows (${esc(r.champion?.predictionsUri ?? '–')}).
Drift thresholds: Jensen-Shannon ${r.thresholds.numericJs} (over the baseline's deciles), mean shift ${r.thresholds.meanShiftStd} std, std ratio x${r.thresholds.stdRatio}, category L-infinity ${r.thresholds.categoricalLinf}.
Every number is in ${esc(links.reportJson ?? 'report.json')} next to this file. Generated ${esc(r.createdAt)}.</footer>
</main></body></html>
`;
}

function featureTable(r: MonitorReport): string {
  const rows = [...r.features]
    .sort((x, y) => Number(y.drifted) - Number(x.drifted) || (y.driftScore ?? -1) - (x.driftScore ?? -1))
    .map((f) => `<tr${f.drifted ? ' class="drift"' : ''}><td>${name(f.name)}</td><td>${esc(f.kind)}</td>
<td class="num${f.drifted ? ' fail' : ''}">${num(f.driftScore, 2)}</td>
<td>${f.measures.map((m) => `${esc(m.name)} ${num(m.value)} <span class="ci">(max ${m.threshold})</span>`).join('<br>') || '<span class="small">not measured</span>'}</td>
<td class="num">${pct(f.presentShare)}</td><td class="num">${pct(f.missingShare)} <span class="ci">(baseline ${pct(f.baselineMissingShare)})</span></td>
<td>${esc(f.summary.baseline)}<br><b>${esc(f.summary.live)}</b></td><td>${f.rules.map(esc).join(', ')}</td></tr>`)
    .join('');
  const gone = r.missingFeatures.map((n) => `<tr class="drift"><td>${name(n)}</td><td colspan="7" class="fail">missing from every captured request</td></tr>`).join('');
  const added = r.newFeatures.map((n) => `<tr><td>${name(n)}</td><td colspan="7">new: requests carry it, the champion's schema does not</td></tr>`).join('');
  return `<section><h2>Features</h2>
<p class="meta">Drift = the largest drift measure relative to its threshold (1 = at the threshold). Present = share of captured rows that carried the column.</p>
<table><thead><tr><th>feature</th><th>kind</th><th>drift</th><th>measures</th><th>present</th><th>missing</th><th>baseline<br><b>live</b></th><th>rules</th></tr></thead>
<tbody>${gone}${rows}${added}</tbody></table></section>`;
}

function predictionSection(r: MonitorReport): string {
  const p = r.predictions;
  if (!p.columns.length && !p.note) return '';
  const figs = p.columns.map((c) => histogram({ ...c, name: PREDICTION_COLUMNS[c.name as keyof typeof PREDICTION_COLUMNS] ?? c.name }, c.drifted)).join('');
  return `<section><h2>Predictions${p.drifted ? ' <span class="badge">SHIFTED</span>' : ''}</h2>
<p class="meta">The served predictions against the champion's predictions on its own validation rows.${p.note ? ` ${esc(p.note)}` : ''}</p>
<div class="bars">${figs}</div></section>`;
}

function trafficSection(r: MonitorReport): string {
  const c = r.counts;
  const f = r.failures;
  const failures = 'unavailable' in f
    ? `<li>Failed requests: ${esc(f.unavailable)}</li>`
    : `<li>Failed requests: ${int(f.errors4xx + f.errors5xx)} of ${int(f.invocations)} invocations (${pct(f.share)}; ${int(f.errors4xx)} 4xx, ${int(f.errors5xx)} 5xx), at most ${pct(f.max)} tolerated</li>`;
  return `<section><h2>Traffic</h2><ul class="reasons">
<li>${int(c.files)} capture files, ${int(c.records)} records read; ${int(c.outsideWindow)} outside the window; first ${esc(c.firstTime ?? '–')}, last ${esc(c.lastTime ?? '–')}</li>
<li>${int(c.requests)} requests with ${int(c.rows)} rows, ${int(c.responses)} responses with ${int(c.predictions)} predictions (at least ${int(r.minRows)} rows are needed to compare)</li>
${failures}
${c.unreadableRequests + c.unreadableResponses + c.badLines + c.mismatched ? `<li>Unreadable: ${int(c.unreadableRequests)} requests, ${int(c.unreadableResponses)} responses, ${int(c.badLines)} lines; ${int(c.mismatched)} responses with another number of predictions than rows${c.examples.length ? `<br><span class="small">${c.examples.map(esc).join('<br>')}</span>` : ''}</li>` : ''}
</ul></section>`;
}

const HW = 300;
const HH = 190;
const HP = { l: 36, r: 8, t: 8, b: 66 };

/** Paired bars per bin: the baseline's share (grey) and the live share (blue). */
function histogram(f: Pick<ColumnReport, 'name' | 'histogram' | 'driftScore' | 'kind'>, drifted: boolean): string {
  const bins: readonly HistogramBin[] = f.histogram;
  if (!bins.length) return '';
  const max = Math.max(0.01, ...bins.flatMap((b) => [b.baseline, b.live]));
  const iw = HW - HP.l - HP.r;
  const ih = HH - HP.t - HP.b;
  const slot = iw / bins.length;
  const bw = Math.max(1.5, slot / 2 - 1.5);
  const y = (v: number) => HP.t + ih - (v / max) * ih;
  const bars = bins
    .map((b, i) => {
      const x = HP.l + i * slot + 1;
      const label = b.label.length > 16 ? `${b.label.slice(0, 15)}…` : b.label;
      return `<rect class="base" x="${x.toFixed(1)}" y="${y(b.baseline).toFixed(1)}" width="${bw.toFixed(1)}" height="${(HP.t + ih - y(b.baseline)).toFixed(1)}"><title>${esc(b.label)}: baseline ${pct(b.baseline)}</title></rect>
<rect class="live" x="${(x + bw).toFixed(1)}" y="${y(b.live).toFixed(1)}" width="${bw.toFixed(1)}" height="${(HP.t + ih - y(b.live)).toFixed(1)}"><title>${esc(b.label)}: live ${pct(b.live)}</title></rect>
<text x="${(x + bw).toFixed(1)}" y="${HP.t + ih + 8}" font-size="9" fill="#57606a" text-anchor="end" transform="rotate(-40 ${(x + bw).toFixed(1)} ${HP.t + ih + 8})">${esc(label)}</text>`;
    })
    .join('');
  const axis = [0, 0.5, 1].map((t) => `<text x="${HP.l - 4}" y="${(y(t * max) + 3).toFixed(1)}" font-size="9" text-anchor="end" fill="#57606a">${pct(t * max)}</text>`).join('');
  return `<figure class="${drifted ? 'drift' : ''}"><svg xmlns="http://www.w3.org/2000/svg" width="${HW}" height="${HH}" viewBox="0 0 ${HW} ${HH}" role="img" aria-label="${esc(f.name)}: baseline vs live">
<line x1="${HP.l}" y1="${HP.t + ih}" x2="${HP.l + iw}" y2="${HP.t + ih}" stroke="#d0d7de"/>${axis}${bars}</svg>
<figcaption><b>${name(f.name)}</b> · drift ${num(f.driftScore, 2)} <span class="legend"><span><i class="sw" style="background:#8c959f"></i>baseline</span><span><i class="sw" style="background:#0969da"></i>live</span></span></figcaption></figure>`;
}
