import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { tracer } from './telemetry';

/**
 * SDK v3 clients, created lazily once per process and shared by every stage. Endpoints come from the SDK's
 * standard variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SAGEMAKER, ...): that is how local mode
 * reaches its local servers with no `if (local)` in a handler. Import only the getters a stage needs,
 * so esbuild leaves the other clients out of its bundle. Each client is traced (X-Ray subsegments per call)
 * when the tracer is on, that is in Lambda.
 */
let s3: S3Client | undefined;
let sagemaker: SageMakerClient | undefined;
let sagemakerRuntime: SageMakerRuntimeClient | undefined;
let sns: SNSClient | undefined;
let sfn: SFNClient | undefined;
let sqs: SQSClient | undefined;
let cloudwatch: CloudWatchClient | undefined;

const retry = { maxAttempts: 5 };

export const s3Client = (): S3Client => (s3 ??= tracer.captureAWSv3Client(new S3Client({ ...retry })));
export const sageMakerClient = (): SageMakerClient => (sagemaker ??= tracer.captureAWSv3Client(new SageMakerClient({ ...retry })));
export const sageMakerRuntimeClient = (): SageMakerRuntimeClient => (sagemakerRuntime ??= tracer.captureAWSv3Client(new SageMakerRuntimeClient({ ...retry })));
export const snsClient = (): SNSClient => (sns ??= tracer.captureAWSv3Client(new SNSClient({ ...retry })));
export const cloudWatchClient = (): CloudWatchClient => (cloudwatch ??= tracer.captureAWSv3Client(new CloudWatchClient({ ...retry })));
export const sfnClient = (): SFNClient => (sfn ??= tracer.captureAWSv3Client(new SFNClient({ ...retry })));
/**
 * The queue URL in a request names the queue, the endpoint comes from the SDK's resolution as for every other client
 * (in the cloud both are sqs.<region>.amazonaws.com; locally AWS_ENDPOINT_URL_SQS points at the local server).
 */
export const sqsClient = (): SQSClient => (sqs ??= tracer.captureAWSv3Client(new SQSClient({ ...retry, useQueueUrlAsEndpoint: false })));
