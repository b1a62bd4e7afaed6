import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SNSClient } from '@aws-sdk/client-sns';

/**
 * SDK v3 clients, created lazily once per process and shared by every stage. Endpoints come from the SDK's
 * standard variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SAGEMAKER, ...): that is how local mode
 * reaches its local servers with no `if (local)` in a handler. Import only the getters a stage needs,
 * so esbuild leaves the other clients out of its bundle.
 */
let s3: S3Client | undefined;
let sagemaker: SageMakerClient | undefined;
let sagemakerRuntime: SageMakerRuntimeClient | undefined;
let sns: SNSClient | undefined;
let cloudwatch: CloudWatchClient | undefined;

const retry = { maxAttempts: 5 };

export const s3Client = (): S3Client => (s3 ??= new S3Client({ ...retry }));
export const sageMakerClient = (): SageMakerClient => (sagemaker ??= new SageMakerClient({ ...retry }));
export const sageMakerRuntimeClient = (): SageMakerRuntimeClient => (sagemakerRuntime ??= new SageMakerRuntimeClient({ ...retry }));
export const snsClient = (): SNSClient => (sns ??= new SNSClient({ ...retry }));
export const cloudWatchClient = (): CloudWatchClient => (cloudwatch ??= new CloudWatchClient({ ...retry }));
