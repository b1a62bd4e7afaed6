import type { DataCaptureConfig } from '@aws-sdk/client-sagemaker';
import { CaptureConfig } from '../shared/config';

/**
 * The content types SageMaker records as text (encoding CSV or JSON) instead of BASE64: what relearn's serving
 * code reads and answers (Contract A). Anything else is captured BASE64, which the monitor decodes too.
 */
export const CAPTURE_CSV_TYPES = ['text/csv'] as const;
export const CAPTURE_JSON_TYPES = ['application/json'] as const;

/**
 * SageMaker's DataCaptureConfig for an endpoint config, from `monitoring.capture`: the artifacts bucket's capture
 * prefix as destination, encrypted with the pipeline's key, requests and/or responses. Undefined when capture is off.
 *
 * CaptureOptions lists `Input` and `Output` as two entries (what the SageMaker Python SDK sends), not the
 * `InputAndOutput` mode, which the service model lists but endpoints have been seen to reject (boto3 issue 3440).
 */
export function dataCaptureConfig(capture: CaptureConfig, artifactsBucket: string, kmsKeyArn: string): DataCaptureConfig | undefined {
  if (!capture.enabled) return undefined;
  return {
    EnableCapture: true,
    InitialSamplingPercentage: capture.samplingPercentage,
    DestinationS3Uri: captureDestination(artifactsBucket, capture.prefix),
    KmsKeyId: kmsKeyArn,
    CaptureOptions: [...(capture.request ? [{ CaptureMode: 'Input' as const }] : []), ...(capture.response ? [{ CaptureMode: 'Output' as const }] : [])],
    CaptureContentTypeHeader: { CsvContentTypes: [...CAPTURE_CSV_TYPES], JsonContentTypes: [...CAPTURE_JSON_TYPES] },
  };
}

/** `s3://<bucket>/<prefix without its trailing slash>`: SageMaker appends `/<endpoint>/<variant>/...` itself. */
export function captureDestination(bucket: string, prefix: string): string {
  return `s3://${bucket}/${prefix.replace(/\/+$/, '')}`;
}

/** The endpoint's only production variant, as Deploy names it: capture files and invocation metrics are per variant. */
export const SERVING_VARIANT = 'AllTraffic';
