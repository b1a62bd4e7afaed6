import { readFileSync } from 'node:fs';
import { MetricsEngine } from './lambdas/shared/metrics';
const d = JSON.parse(readFileSync('test/fixtures/multiclass-reference.json', 'utf8'));
const e = new MetricsEngine({ labels: Float64Array.from(d.labels), candidate: Float64Array.from(d.candidate.flat()), champion: Float64Array.from(d.champion.flat()), classes: d.classes }, { problemType: 'multiclass_classification', threshold: 0.5, confidence: 0.95 });
const o = e.overall();
for (const [k, v] of Object.entries(o.metrics)) {
  const ref = k.includes(':') ? d.overall.candidate.per_class[k.split(':')[0]][d.classes.indexOf(k.split(':')[1])] : d.overall.candidate[k];
  const refc = k.includes(':') ? d.overall.champion.per_class[k.split(':')[0]][d.classes.indexOf(k.split(':')[1])] : d.overall.champion[k];
  console.log(k.padEnd(22), v.candidate.value?.toFixed(10), ref?.toFixed?.(10), '|', v.champion!.value?.toFixed(10), refc?.toFixed?.(10), ' ci', v.candidate.lo?.toFixed(3), v.candidate.hi?.toFixed(3), 'diff', v.diff!.lo?.toFixed(3), v.diff!.hi?.toFixed(3));
}
console.log(JSON.stringify(o.matrix!.candidate), JSON.stringify(d.overall.candidate.confusion_matrix));
const g = new Int32Array(d.labels.length).fill(-1); d.subset.forEach((i: number) => (g[i] = 0));
const s = e.groups(g, 1, { perClass: 'all' })[0];
for (const k of ['accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'recall_macro', 'roc_auc_ovr', 'log_loss']) console.log('subset', k.padEnd(18), s.metrics[k].candidate.value?.toFixed(10), d.subsetMetrics.candidate[k].toFixed(10), s.metrics[k].champion!.value?.toFixed(10), d.subsetMetrics.champion[k].toFixed(10), s.metrics[k].note ?? '');
