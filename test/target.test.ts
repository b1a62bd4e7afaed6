import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../local/cli';
import { awsTarget, TargetNotFound } from '../local/target';

/**
 * local/target.ts's deployed-stack side: what a command finds through the pipeline stack's CloudFormation outputs.
 * CloudFormation has no local server here, so DescribeStacks is mocked (its answers are AWS's documented shapes).
 */
const cfnMock = mockClient(CloudFormationClient);
afterEach(() => cfnMock.reset());

const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:churn-retrain';
const outputs = {
  StateMachineArn: arn,
  DataBucketName: 'churn-data-123',
  ArtifactsBucketName: 'churn-artifacts-123',
  EndpointName: 'churn-endpoint',
  TriggerQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/churn-trigger',
};

test("the stack <name>-pipeline's outputs name the pipeline; the region is the state machine's", async () => {
  cfnMock.on(DescribeStacksCommand, { StackName: 'churn-pipeline' }).resolves({
    Stacks: [{ StackName: 'churn-pipeline', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }],
  });
  const t = await awsTarget({ name: 'churn', region: 'eu-west-1', cloudFormation: new CloudFormationClient({ region: 'eu-west-1' }) });
  expect(t).toMatchObject({ kind: 'aws', name: 'churn', region: 'eu-west-1', stateMachineArn: arn, dataBucket: 'churn-data-123', artifactsBucket: 'churn-artifacts-123', endpointName: 'churn-endpoint', triggerQueueUrl: outputs.TriggerQueueUrl });
  expect(t.consoleLink(`${arn.replace(':stateMachine:', ':execution:')}:run-1`)).toBe(
    'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:churn-retrain:run-1',
  );
  await t.close();
});

test('a stack without the outputs, or no stack, is a clear TargetNotFound', async () => {
  const cfn = new CloudFormationClient({ region: 'eu-west-1' });
  cfnMock.on(DescribeStacksCommand).resolvesOnce({ Stacks: [{ StackName: 'old-pipeline', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [{ OutputKey: 'StateMachineArn', OutputValue: arn }] }] });
  await expect(awsTarget({ stackName: 'old-pipeline', cloudFormation: cfn })).rejects.toThrow(
    new TargetNotFound('stack old-pipeline has no output DataBucketName, ArtifactsBucketName, EndpointName, TriggerQueueUrl: is it a relearn pipeline stack of this version?'),
  );
  const missing = Object.assign(new Error('Stack with id nope-pipeline does not exist'), { name: 'ValidationError', $metadata: { httpStatusCode: 400 } });
  cfnMock.reset();
  cfnMock.on(DescribeStacksCommand).rejects(missing);
  await expect(awsTarget({ stackName: 'nope-pipeline', cloudFormation: cfn })).rejects.toThrow('stack nope-pipeline does not exist (deploy it with cdk deploy, or name it with --stack)');
});

test('relearn status / start with no AWS region or credentials: exit 2 and one line, no stack trace', async () => {
  cfnMock.restore();
  const dir = mkdtempSync(join(tmpdir(), 'relearn-target-'));
  const saved = { ...process.env };
  try {
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete process.env[k];
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_CONFIG_FILE = join(dir, 'none');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'none');
    const err: string[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) }, cwd: dir };
    expect(await main(['status'], io)).toBe(2);
    expect(err.join('')).toMatch(/^relearn: cannot ask AWS for stack relearn-pipeline: .* \(set AWS credentials and a region: AWS_PROFILE, AWS_REGION or --region; or use --local\)\n$/);
    err.length = 0;
    expect(await main(['start', '--data', 's3://x/', '--region', 'eu-west-1'], io)).toBe(2);
    expect(err.join('').split('\n')).toHaveLength(2);
  } finally {
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
