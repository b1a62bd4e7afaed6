import { CreateTrainingJobCommand, CreateTrainingJobCommandInput, DescribeEndpointCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_ADMIN_CREDENTIALS } from '../local/iam/identities';
import { compilePattern, serviceModel, validateInput, validationMessage } from '../local/services/api-model';
import { LocalSageMaker, startLocalSageMaker } from '../local/services/sagemaker';
import { startTestS3 } from './helpers/local-s3';

/**
 * The local SageMaker server validates every request against botocore's service model (the pinned subset in
 * local/services/api-models/), and answers an invalid one as AWS does.
 */

const ROLE = 'arn:aws:iam::000000000000:role/relearn-sagemaker';
const job = (over: Partial<CreateTrainingJobCommandInput> = {}): CreateTrainingJobCommandInput => ({
  TrainingJobName: 'relearn-train-ok-1',
  RoleArn: ROLE,
  AlgorithmSpecification: { TrainingImage: '683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3', TrainingInputMode: 'File' },
  OutputDataConfig: { S3OutputPath: 's3://test-artifacts/runs/x/training/' },
  ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1, VolumeSizeInGB: 10 },
  StoppingCondition: { MaxRuntimeInSeconds: 600 },
  ...over,
});

describe('the pinned service models', () => {
  it.each(['sagemaker', 'sagemaker-runtime', 'sns'] as const)('%s: provenance names the Debian package and the file, and every pattern compiles', (service) => {
    const model = serviceModel(service);
    expect(model.provenance).toMatchObject({ package: 'awscli 2.9.19-1', distribution: 'Debian 12 (bookworm) main', generator: 'scripts/extract-api-models.ts' });
    expect(model.provenance.path).toMatch(new RegExp(`/awscli/botocore/data/${service}/\\d{4}-\\d{2}-\\d{2}/service-2\\.json$`));
    expect(model.provenance.sha256).toMatch(/^[0-9a-f]{64}$/);
    const patterns = Object.values(model.shapes).flatMap((s) => ((s as { pattern?: string }).pattern ? [(s as { pattern: string }).pattern] : []));
    for (const p of patterns) expect(() => compilePattern(p)).not.toThrow();
  });

  it('Java-only pattern syntax is translated, and a pattern matches the whole value', () => {
    // SageMaker's resource names: a prefix match would accept "abc!".
    const name = compilePattern('^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}');
    expect(name.test('relearn-train-1')).toBe(true);
    expect(name.test('abc!')).toBe(false);
    expect(name.test('a'.repeat(64))).toBe(false);
    // Tag values: Unicode letters (\p{L} needs the u flag), and Java's quantified end anchor.
    const tag = compilePattern('^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,256}');
    expect(tag.test('Zürich run 1: a=b')).toBe(true);
    expect(tag.test("it's")).toBe(false);
    // The runtime's CustomAttributes: \A, \z and \p{Print}.
    const printable = compilePattern('\\A\\S[\\p{Print}]*\\z');
    expect(printable.test('a=1; b=2')).toBe(true);
    expect(printable.test(' leading space')).toBe(false);
    expect(printable.test('tab\there')).toBe(false);
  });

  it('collects every violation in AWS words: pattern, required member, enum, range', () => {
    const input = job({ TrainingJobName: 'bad_name!', ResourceConfig: { InstanceType: 'ml.bogus.xlarge' as never, InstanceCount: 1, VolumeSizeInGB: 0 } });
    delete (input as Partial<CreateTrainingJobCommandInput>).RoleArn;
    const { errors } = validateInput('sagemaker', 'CreateTrainingJob', input);
    expect(errors).toEqual(
      expect.arrayContaining([
        "Value 'bad_name!' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        expect.stringMatching(/^Value 'ml\.bogus\.xlarge' at 'resourceConfig\.instanceType' failed to satisfy constraint: Member must satisfy enum value set: \[ml\.m4\.xlarge, .*ml\.m5\.large/),
        "Value '0' at 'resourceConfig.volumeSizeInGB' failed to satisfy constraint: Member must have value greater than or equal to 1",
      ]),
    );
    expect(validationMessage(errors)).toMatch(/^4 validation errors detected: Value /);
  });
});

describe('the local SageMaker server refuses invalid requests as AWS does', () => {
  let s3: Awaited<ReturnType<typeof startTestS3>>;
  let sm: LocalSageMaker;
  let dir: string;
  let client: SageMakerClient;

  beforeAll(async () => {
    s3 = await startTestS3();
    dir = mkdtempSync(join(tmpdir(), 'relearn-api-model-'));
    sm = await startLocalSageMaker({ directory: dir, s3Endpoint: s3.endpoint });
    client = new SageMakerClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: LOCAL_ADMIN_CREDENTIALS, maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await sm.stop();
    await s3.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: Error & { $metadata?: { httpStatusCode?: number } }) => ({ name: e.name, message: e.message, status: e.$metadata?.httpStatusCode }));

  it('a bad name pattern: ValidationException, HTTP 400, naming the member and the pattern; nothing is created', async () => {
    const before = sm.apiModel.rejected;
    expect(await refusal(client.send(new CreateTrainingJobCommand(job({ TrainingJobName: "run-(it's)" }))))).toEqual({
      name: 'ValidationException',
      status: 400,
      message: "1 validation error detected: Value 'run-(it's)' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    });
    expect(sm.apiModel.rejected).toBe(before + 1);
  });

  it('a missing required member and a wrong enum', async () => {
    const noRole = job();
    delete (noRole as Partial<CreateTrainingJobCommandInput>).RoleArn;
    expect(await refusal(client.send(new CreateTrainingJobCommand(noRole)))).toMatchObject({ name: 'ValidationException', status: 400, message: "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null" });
    const badMode = job({ AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'Streaming' as never } });
    expect(await refusal(client.send(new CreateTrainingJobCommand(badMode)))).toMatchObject({
      name: 'ValidationException',
      message: "1 validation error detected: Value 'Streaming' at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]",
    });
  });

  it('tag values with characters a Step Functions execution name may hold are refused (the pattern of finding 4)', async () => {
    const tagged = job({ TrainingJobName: 'relearn-train-tags-1', Tags: [{ Key: 'relearn:execution', Value: "retrain-(manual)!" }] });
    expect(await refusal(client.send(new CreateTrainingJobCommand(tagged)))).toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("Value 'retrain-(manual)!' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"),
    });
  });

  it('runtime InvokeEndpoint: an endpoint name outside the pattern is a ValidationError', async () => {
    const runtime = new SageMakerRuntimeClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: LOCAL_ADMIN_CREDENTIALS, maxAttempts: 1 });
    try {
      const e = await refusal(runtime.send(new InvokeEndpointCommand({ EndpointName: 'bad_endpoint', Body: Buffer.from('{}'), ContentType: 'application/json' })));
      expect(e).toMatchObject({ name: 'ValidationError', status: 400 });
      expect(e!.message).toMatch(/at 'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern/);
    } finally {
      runtime.destroy();
    }
  });

  it('unknown or missing credentials are refused as SageMaker refuses them', async () => {
    const stranger = new SageMakerClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, maxAttempts: 1 });
    const wrongSecret = new SageMakerClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: { ...LOCAL_ADMIN_CREDENTIALS, secretAccessKey: 'nope' }, maxAttempts: 1 });
    try {
      expect(await refusal(stranger.send(new DescribeEndpointCommand({ EndpointName: 'e' })))).toMatchObject({ name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
      expect(await refusal(wrongSecret.send(new DescribeEndpointCommand({ EndpointName: 'e' })))).toMatchObject({ name: 'InvalidSignatureException', status: 403 });
    } finally {
      stranger.destroy();
      wrongSecret.destroy();
    }
    // No Authorization header at all: the JSON 1.1 error document itself.
    const body = JSON.stringify({ EndpointName: 'e' });
    const raw = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${sm.endpoint}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'SageMaker.DescribeEndpoint', 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(raw.status).toBe(403);
    expect(JSON.parse(raw.body)).toEqual({ __type: 'com.amazonaws.sagemaker#MissingAuthenticationTokenException', message: 'Missing Authentication Token' });
  });

  it('SNS Publish is validated and authenticated in the query protocol', async () => {
    const sns = new SNSClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: LOCAL_ADMIN_CREDENTIALS, maxAttempts: 1 });
    const stranger = new SNSClient({ endpoint: sm.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' }, maxAttempts: 1 });
    try {
      const e = await refusal(sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:t' } as never)));
      expect(e).toMatchObject({ name: 'ValidationError', status: 400, message: "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null" });
      expect(await refusal(stranger.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:t', Message: 'm' })))).toMatchObject({ name: 'InvalidClientTokenId', status: 403 });
    } finally {
      sns.destroy();
      stranger.destroy();
    }
  });

  it('the server counts what it validated', () => {
    expect(sm.apiModel.validated).toBeGreaterThanOrEqual(6);
    expect(sm.apiModel.byOperation['sagemaker.CreateTrainingJob']).toBeGreaterThanOrEqual(4);
    expect(JSON.parse(readFileSync(join(__dirname, '..', 'local', 'services', 'api-models', 'sagemaker.json'), 'utf8')).operations).toHaveProperty('CreateTrainingJob');
  });
});
