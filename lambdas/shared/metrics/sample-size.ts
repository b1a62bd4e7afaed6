import type { ProblemType } from '../config/evaluation';
import type { GroupMetrics } from './common';

/**
 * When a validation set is too small for its intervals to mean much (docs/evaluation.md). The rule is a row
 * count, so that it reads the same on every run:
 * - classification, fewer than 30 rows of a class (binary: of the smaller class). At 30, a 95% interval of a
 *   ROC AUC near 0.8 is about ±0.1 wide (Hanley-McNeil), that of a recall near 0.8 about ±0.14 (Wilson): wider
 *   than any sensible tolerance, so most comparisons end "within noise"; the normal approximations behind the
 *   intervals (DeLong, the linearised F1 and macro averages) also want about 10 or more rows per cell.
 * - regression, fewer than 100 rows. At 100, even normally distributed errors give an RMSE interval of ±14% of
 *   its value (z * sqrt(2 / n) / 2); heavier tails widen it, and the delta-method interval rests on the fourth
 *   moment of the errors, which few rows estimate poorly.
 */
export const SMALL_VALIDATION = { rowsPerClass: 30, regressionRows: 100 } as const;

const ADVICE = 'the gate can rarely tell the models apart (expect "within noise"). Add data or raise dataset.validationFraction';

/** The warning for a validation set too small for its intervals, or null. */
export function smallValidationWarning(problemType: ProblemType, overall: GroupMetrics, classes?: readonly string[] | null): string | null {
  const rule = SMALL_VALIDATION;
  if (problemType === 'regression') {
    if (overall.rows >= rule.regressionRows) return null;
    return `Small validation set: ${overall.rows} rows (fewer than ${rule.regressionRows}): a 95% interval of an RMSE then spans ±14% of it or more, so ${ADVICE}.`;
  }
  const counts = problemType === 'binary_classification' ? [overall.rows - (overall.positives ?? 0), overall.positives ?? 0] : (overall.support ?? []);
  const name = (k: number) => JSON.stringify(classes?.[k] ?? String(k));
  const small = counts.map((c, k) => ({ c, k })).filter(({ c }) => c < rule.rowsPerClass);
  if (!small.length) return null;
  const listed = small.slice(0, 3).map(({ c, k }) => `${c} of ${name(k)}`).join(', ') + (small.length > 3 ? ` and ${small.length - 3} more classes` : '');
  return (
    `Small validation set: only ${listed} (under ${rule.rowsPerClass} rows per class): a 95% interval of an AUC near 0.8 then spans ±0.1 ` +
    `or more, of a recall ±0.14, so ${ADVICE}.`
  );
}
