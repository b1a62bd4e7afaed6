import { perClassMetric } from '../shared/config/evaluation';
import { zFor } from '../shared/metrics';
import type { EvaluationDocument } from './core';

/**
 * The candidate's metrics in the format SageMaker's model registry and Studio read from a model package's
 * `ModelMetrics.ModelQuality.Statistics` (the format of Model Monitor's model-quality statistics):
 * `{"<problem>_metrics": {"<metric>": {"value", "standard_deviation"}, "confusion_matrix": {actual: {predicted: n}}}}`.
 * Register points the package at this file; evaluation.json (linked from decision.json) keeps everything else.
 * Names are relearn's, plus Model Monitor's own name where one exists (`auc`, `weighted_f1`, `mse`, ...).
 * The standard deviation is read off the candidate's interval: (hi - lo) / (2 z).
 */
export function modelQualityStatistics(doc: EvaluationDocument): Record<string, unknown> {
  const z = zFor(doc.confidence);
  const metrics: Record<string, unknown> = {};
  const entry = (value: number | null, lo: number | null, hi: number | null) => ({
    value: value ?? 'NaN',
    standard_deviation: value !== null && lo !== null && hi !== null && Number.isFinite(hi - lo) ? (hi - lo) / (2 * z) : 'NaN',
  });
  for (const [name, m] of Object.entries(doc.overall.metrics)) {
    const c = m.candidate;
    metrics[name] = entry(c.value, c.lo, c.hi);
    const alias = ALIASES[doc.problemType][name];
    if (alias && !perClassMetric(name)) metrics[alias] = metrics[name];
  }
  if (doc.problemType === 'regression') {
    const r = doc.overall.metrics.rmse?.candidate;
    if (r && r.value !== null) {
      // mse = rmse^2; its standard deviation by the delta method
      const sd = r.lo !== null && r.hi !== null ? (2 * r.value * (r.hi - r.lo)) / (2 * z) : 'NaN';
      metrics.mse = { value: r.value * r.value, standard_deviation: sd };
    }
  }
  const names = doc.classes ?? ['0', '1'];
  if (doc.overall.matrix) {
    metrics.confusion_matrix = matrixObject(doc.overall.matrix.candidate, names);
  } else if (doc.overall.confusion) {
    const c = doc.overall.confusion.candidate;
    metrics.confusion_matrix = matrixObject([[c.tn, c.fp], [c.fn, c.tp]], names);
  }
  const key = { binary_classification: 'binary_classification_metrics', multiclass_classification: 'multiclass_classification_metrics', regression: 'regression_metrics' }[doc.problemType];
  return { version: 0.0, dataset: { item_count: doc.rows.predictions }, [key]: metrics };
}

/** Model Monitor's names for the metrics relearn also computes. */
const ALIASES: Record<EvaluationDocument['problemType'], Record<string, string>> = {
  binary_classification: { roc_auc: 'auc', recall: 'true_positive_rate', specificity: 'true_negative_rate' },
  multiclass_classification: { f1_weighted: 'weighted_f1' },
  regression: {},
};

const matrixObject = (m: readonly (readonly number[])[], names: readonly string[]) =>
  Object.fromEntries(m.map((row, a) => [names[a], Object.fromEntries(row.map((v, p) => [names[p], v]))]));
