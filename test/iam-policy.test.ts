import { Authorizer } from '../local/iam/authorizer';
import { evaluate, EvaluationRequest, NamedPolicy, PolicyStatement, UnknownConditionKey } from '../local/iam/policy';
import type { IamModel, RoleModel } from '../local/iam/template';

/**
 * The evaluator against AWS's documented semantics ("Policy evaluation logic" and "IAM JSON policy elements" in
 * the IAM User Guide; "Key policies" in the KMS Developer Guide). Each case names the rule it checks.
 */

const ACCOUNT = '000000000000';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/stage`;
const principal = { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/stage/fn`, entityArn: ROLE, accountId: ACCOUNT };
const policy = (...Statement: PolicyStatement[]): NamedPolicy => ({ name: 'p', document: { Version: '2012-10-17', Statement } });
const S3_KEYS = ['s3:prefix', 's3:delimiter'];

function req(over: Partial<EvaluationRequest>): EvaluationRequest {
  return {
    principal,
    action: 's3:GetObject',
    resource: 'arn:aws:s3:::bkt/datasets/a.csv',
    resourceAccountId: ACCOUNT,
    context: { values: { 'aws:SecureTransport': 'true' }, known: S3_KEYS },
    identityPolicies: [],
    ...over,
  };
}

describe('IAM policy evaluation', () => {
  it('denies by default: nothing allows', () => {
    expect(evaluate(req({}))).toEqual({ allowed: false, reason: 'no-identity-allow' });
  });

  it('allows with a matching identity statement; actions match case-insensitively, resources by glob', () => {
    const p = policy({ Effect: 'Allow', Action: 'S3:getobject', Resource: 'arn:aws:s3:::bkt/datasets/*' });
    expect(evaluate(req({ identityPolicies: [p] })).allowed).toBe(true);
    expect(evaluate(req({ identityPolicies: [p], resource: 'arn:aws:s3:::bkt/runs/a.csv' })).allowed).toBe(false);
    // Resource ARNs are case-sensitive.
    expect(evaluate(req({ identityPolicies: [p], resource: 'arn:aws:s3:::bkt/Datasets/a.csv' })).allowed).toBe(false);
    // `?` is one character.
    const q = policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/datasets/?.csv' });
    expect(evaluate(req({ identityPolicies: [q] })).allowed).toBe(true);
    expect(evaluate(req({ identityPolicies: [q], resource: 'arn:aws:s3:::bkt/datasets/ab.csv' })).allowed).toBe(false);
  });

  it('an explicit deny wins over any allow, in identity and in resource policies', () => {
    const allow = policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' });
    const deny = policy({ Effect: 'Deny', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/*' });
    expect(evaluate(req({ identityPolicies: [allow, deny] }))).toMatchObject({ allowed: false, reason: 'explicit-deny-identity' });
    const bucketDeny = policy({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: 'arn:aws:s3:::bkt/*' });
    expect(evaluate(req({ identityPolicies: [allow], resourcePolicy: bucketDeny }))).toMatchObject({ allowed: false, reason: 'explicit-deny-resource' });
  });

  it('aws:SecureTransport: the buckets deny plain HTTP to everyone, administrators included', () => {
    const admin = policy({ Effect: 'Allow', Action: '*', Resource: '*' });
    const bucket = policy({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: ['arn:aws:s3:::bkt', 'arn:aws:s3:::bkt/*'], Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    expect(evaluate(req({ identityPolicies: [admin], resourcePolicy: bucket })).allowed).toBe(true);
    const plain = req({ identityPolicies: [admin], resourcePolicy: bucket, context: { values: { 'aws:SecureTransport': 'false' }, known: S3_KEYS } });
    expect(evaluate(plain)).toMatchObject({ allowed: false, reason: 'explicit-deny-resource' });
  });

  it('s3:prefix: ListBucket is allowed only for the listed prefixes, and not at all without a prefix', () => {
    const p = policy({ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::bkt', Condition: { StringLike: { 's3:prefix': ['datasets/*', 'champion/current.json'] } } });
    const list = (prefix?: string) =>
      evaluate(req({ action: 's3:ListBucket', resource: 'arn:aws:s3:::bkt', identityPolicies: [p], context: { values: prefix === undefined ? {} : { 's3:prefix': prefix }, known: S3_KEYS } })).allowed;
    expect(list('datasets/d1/train/')).toBe(true);
    expect(list('champion/current.json')).toBe(true);
    expect(list('runs/x/checkpoints/')).toBe(false);
    // A positive operator on a missing key is false: a prefix-scoped ListBucket does not cover an unprefixed list.
    expect(list(undefined)).toBe(false);
  });

  it('negated operators and IfExists: a missing key makes StringNotEquals true and StringEqualsIfExists true', () => {
    const notEquals = policy({ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*', Condition: { StringNotEquals: { 's3:delimiter': '/' } } });
    const list = (p: NamedPolicy, values: Record<string, string>) => evaluate(req({ action: 's3:ListBucket', resource: 'arn:aws:s3:::bkt', identityPolicies: [p], context: { values, known: S3_KEYS } })).allowed;
    expect(list(notEquals, {})).toBe(true);
    expect(list(notEquals, { 's3:delimiter': '/' })).toBe(false);
    const ifExists = policy({ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*', Condition: { StringEqualsIfExists: { 's3:delimiter': '/' } } });
    expect(list(ifExists, {})).toBe(true);
    expect(list(ifExists, { 's3:delimiter': ',' })).toBe(false);
    const isNull = policy({ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*', Condition: { Null: { 's3:prefix': 'true' } } });
    expect(list(isNull, {})).toBe(true);
    expect(list(isNull, { 's3:prefix': 'a' })).toBe(false);
  });

  it('NotAction and NotResource: everything but the listed actions/resources', () => {
    const p = policy({ Effect: 'Allow', NotAction: ['s3:DeleteObject', 'iam:*'], NotResource: 'arn:aws:s3:::secret/*' });
    expect(evaluate(req({ identityPolicies: [p] })).allowed).toBe(true);
    expect(evaluate(req({ identityPolicies: [p], action: 's3:DeleteObject' })).allowed).toBe(false);
    expect(evaluate(req({ identityPolicies: [p], action: 'iam:PassRole', resource: ROLE })).allowed).toBe(false);
    expect(evaluate(req({ identityPolicies: [p], resource: 'arn:aws:s3:::secret/k' })).allowed).toBe(false);
    // A Deny with NotAction denies everything else.
    const denyAllBut = policy({ Effect: 'Deny', NotAction: 's3:GetObject', Resource: '*' });
    const all = policy({ Effect: 'Allow', Action: '*', Resource: '*' });
    expect(evaluate(req({ identityPolicies: [all, denyAllBut] })).allowed).toBe(true);
    expect(evaluate(req({ identityPolicies: [all, denyAllBut], action: 's3:PutObject' })).allowed).toBe(false);
  });

  it('same account: a resource policy that names the role (or the session) allows without any identity policy', () => {
    const byRole = policy({ Effect: 'Allow', Principal: { AWS: ROLE }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/*' });
    expect(evaluate(req({ resourcePolicy: byRole })).allowed).toBe(true);
    const bySession = policy({ Effect: 'Allow', Principal: { AWS: principal.arn }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/*' });
    expect(evaluate(req({ resourcePolicy: bySession })).allowed).toBe(true);
    // Naming the account delegates to IAM: the role's own policies must allow.
    const byAccount = policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/*' });
    expect(evaluate(req({ resourcePolicy: byAccount })).allowed).toBe(false);
    // A service principal is not the role.
    const byService = policy({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/*' });
    expect(evaluate(req({ resourcePolicy: byService })).allowed).toBe(false);
  });

  it('iam:PassRole needs iam:PassedToService to match the service the role is passed to', () => {
    const p = policy({ Effect: 'Allow', Action: 'iam:PassRole', Resource: `arn:aws:iam::${ACCOUNT}:role/sm`, Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } } });
    const pass = (service: string, role = `arn:aws:iam::${ACCOUNT}:role/sm`) =>
      evaluate(req({ action: 'iam:PassRole', resource: role, identityPolicies: [p], context: { values: { 'iam:PassedToService': service }, known: ['iam:PassedToService'] } })).allowed;
    expect(pass('sagemaker.amazonaws.com')).toBe(true);
    expect(pass('lambda.amazonaws.com')).toBe(false);
    expect(pass('sagemaker.amazonaws.com', `arn:aws:iam::${ACCOUNT}:role/other`)).toBe(false);
  });

  it('KMS: the key policy decides; naming the account enables IAM policies, and without it they do not count', () => {
    const key = 'arn:aws:kms:us-east-1:000000000000:key/k1';
    const identity = policy({ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: key });
    const enablesIam = policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' });
    const onlyLogs = policy({ Effect: 'Allow', Principal: { Service: 'logs.us-east-1.amazonaws.com' }, Action: 'kms:*', Resource: '*' });
    const direct = policy({ Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:Decrypt', Resource: '*' });
    const kms = (identityPolicies: NamedPolicy[], keyPolicy: NamedPolicy) =>
      evaluate(req({ action: 'kms:Decrypt', resource: key, identityPolicies, resourcePolicy: keyPolicy, resourcePolicyRequired: true, context: { values: {}, known: ['kms:*'] } }));
    expect(kms([identity], enablesIam).allowed).toBe(true);
    expect(kms([], enablesIam)).toMatchObject({ allowed: false, reason: 'no-identity-allow' });
    expect(kms([identity], onlyLogs)).toMatchObject({ allowed: false, reason: 'no-resource-allow' });
    expect(kms([], direct).allowed).toBe(true);
  });

  it('kms:GrantIsForAWSResource: CreateGrant only when a service creates the grant for the caller', () => {
    const key = 'arn:aws:kms:us-east-1:000000000000:key/k1';
    const p = policy({ Effect: 'Allow', Action: 'kms:CreateGrant', Resource: key, Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } });
    const grant = (values: Record<string, string>) => evaluate(req({ action: 'kms:CreateGrant', resource: key, identityPolicies: [p], context: { values, known: ['kms:GrantIsForAWSResource'] } })).allowed;
    expect(grant({ 'kms:GrantIsForAWSResource': 'true' })).toBe(true);
    expect(grant({ 'kms:GrantIsForAWSResource': 'false' })).toBe(false);
    expect(grant({})).toBe(false);
  });

  it('ForAnyValue / ForAllValues over multi-valued keys, and ArnLike part by part', () => {
    const any = policy({ Effect: 'Allow', Action: 'sagemaker:AddTags', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['team'] } } });
    const all = policy({ Effect: 'Allow', Action: 'sagemaker:AddTags', Resource: '*', Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team', 'env'] } } });
    const tag = (p: NamedPolicy, keys?: string[]) => evaluate(req({ action: 'sagemaker:AddTags', resource: 'arn:aws:sagemaker:us-east-1:0:model/m', identityPolicies: [p], context: { values: keys ? { 'aws:TagKeys': keys } : {}, known: ['aws:TagKeys'] } })).allowed;
    expect(tag(any, ['team', 'x'])).toBe(true);
    expect(tag(any, ['x'])).toBe(false);
    expect(tag(all, ['team'])).toBe(true);
    expect(tag(all, ['team', 'x'])).toBe(false);
    expect(tag(all)).toBe(true); // ForAllValues on a missing key is true (AWS documents this trap)
    const arn = policy({ Effect: 'Allow', Action: 'iam:PassRole', Resource: '*', Condition: { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/st*' } } });
    expect(evaluate(req({ action: 'iam:PassRole', resource: ROLE, identityPolicies: [arn], context: { values: { 'aws:PrincipalArn': ROLE }, known: [] } })).allowed).toBe(true);
  });

  it('policy variables are filled from the request context', () => {
    const p = policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/home/${aws:username}/*' });
    const get = (username: string, key: string) =>
      evaluate(req({ resource: `arn:aws:s3:::bkt/home/${key}`, identityPolicies: [p], context: { values: { 'aws:username': username }, known: [] } })).allowed;
    expect(get('ana', 'ana/x')).toBe(true);
    expect(get('ana', 'bob/x')).toBe(false);
  });

  it('a condition key the request context does not model is refused loudly, never guessed', () => {
    const p = policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*', Condition: { StringEquals: { 's3:ExistingObjectTag/team': 'x' } } });
    expect(() => evaluate(req({ identityPolicies: [p] }))).toThrow(UnknownConditionKey);
    expect(() => evaluate(req({ identityPolicies: [p] }))).toThrow(/s3:ExistingObjectTag\/team/);
  });
});

describe('Authorizer', () => {
  const role: RoleModel = {
    arn: ROLE,
    name: 'stage',
    id: 'Stack/StageRole',
    policies: [policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bkt/datasets/*' })],
    managedPolicyArns: [],
  };
  const model: IamModel = { accountId: ACCOUNT, region: 'us-east-1', roles: new Map([[ROLE, role]]), resourcePolicies: new Map(), bucketKeys: new Map(), topicKeys: new Map(), keyAliases: new Map() };

  it('answers a denial in AWS words, naming the session, the action and the resource, and logs every decision', () => {
    const authorizer = new Authorizer({ model });
    const identity = authorizer.identities.session(ROLE, 'relearn-ingest');
    const ok = authorizer.authorize({ identity, action: 's3:GetObject', resource: 'arn:aws:s3:::bkt/datasets/a', context: { values: {} } });
    expect(ok.allowed).toBe(true);
    const no = authorizer.authorize({ identity, action: 's3:PutObject', resource: 'arn:aws:s3:::bkt/datasets/a', context: { values: {} } });
    expect(no).toMatchObject({
      allowed: false,
      message: `User: arn:aws:sts::${ACCOUNT}:assumed-role/stage/relearn-ingest is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::bkt/datasets/a" because no identity-based policy allows the s3:PutObject action`,
    });
    expect(authorizer.decisions.map((d) => [d.action, d.allowed])).toEqual([['s3:GetObject', true], ['s3:PutObject', false]]);
    expect(authorizer.counts).toMatchObject({ allowed: 1, denied: 1 });
  });

  it('the operator has AdministratorAccess; a role outside the template has nothing once a template is loaded', () => {
    const authorizer = new Authorizer({ model });
    const admin = authorizer.identities.byAccessKey('AKIARELEARNLOCALADMN')!;
    expect(authorizer.authorize({ identity: admin, action: 's3:DeleteBucket', resource: 'arn:aws:s3:::bkt', context: { values: {} } }).allowed).toBe(true);
    const stranger = authorizer.identities.session(`arn:aws:iam::${ACCOUNT}:role/not-in-template`, 'x');
    expect(authorizer.authorize({ identity: stranger, action: 's3:GetObject', resource: 'arn:aws:s3:::bkt/datasets/a', context: { values: {} } }).allowed).toBe(false);
  });

  it('--no-iam evaluates and logs, but lets the request through', () => {
    const authorizer = new Authorizer({ model, enforce: false });
    const identity = authorizer.identities.session(ROLE, 'fn');
    expect(authorizer.authorize({ identity, action: 's3:PutObject', resource: 'arn:aws:s3:::bkt/x', context: { values: {} } }).allowed).toBe(true);
    expect(authorizer.decisions[0]).toMatchObject({ allowed: false, reason: 'no-identity-allow' });
  });
});
