import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { MonitoringConfig } from '../shared/config';
import { RUN_BECAUSE_MAX } from '../shared/contracts';
import { MonitorReport } from './compare';

/**
 * Retrain on drift (`monitoring.retrainOnDrift`): the monitor does not start an execution itself. It sends
 * `{"relearn": "drift", "because": "<the verdict in words>"}` to the trigger queue, and the trigger handles it as a
 * schedule tick with a reason: what has landed since the last run starts now, through the same single-flight path
 * as new data (at most one execution at a time; nothing starts when nothing new landed: a retrain on the same data
 * would give the same model). The words travel in the run's manifest, its execution input (`trigger`) and its
 * decision record. A second drift verdict while that run is in flight finds nothing pending: no second run.
 */

/** The reason in words when the window's drift meets the configured bar; undefined when no retrain is due. */
export function retrainReason(report: MonitorReport, retrain: MonitoringConfig['retrainOnDrift'], reportUri: string): string | undefined {
  if (!retrain.enabled || report.verdict !== 'drift') return undefined;
  const features = report.driftedFeatures.length >= retrain.minDriftedFeatures;
  const predictions = retrain.onPredictionDrift && report.predictions.drifted;
  if (!features && !predictions) return undefined;
  const what = [
    ...(report.driftedFeatures.length ? [`${report.driftedFeatures.length} drifted feature(s): ${report.driftedFeatures.join(', ')}`] : []),
    ...(report.predictions.drifted ? ['the prediction distribution shifted'] : []),
  ].join('; ');
  const head = `drift in production traffic, window ${report.window.id}, champion ${report.champion?.executionName ?? '-'}: `;
  const tail = ` (report ${reportUri})`;
  const room = RUN_BECAUSE_MAX - head.length - tail.length;
  return head + (what.length > room ? `${what.slice(0, room - 3)}...` : what) + tail;
}

/** Sends the drift start to the trigger queue. */
export async function requestRetrain(sqs: SQSClient, queueUrl: string, because: string): Promise<void> {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ relearn: 'drift', because }) }));
}
