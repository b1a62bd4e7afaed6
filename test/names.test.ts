import { readFileSync } from 'node:fs';
import { parseConfig } from '../lambdas/shared/config';
import { generate, OUT, SUBSET } from '../scripts/generate-sagemaker-api';
import { instanceTypeProblem } from '../lambdas/shared/config/instance-types';
import {
  descriptionSafe,
  endpointConfigName,
  EXECUTION_NAME_MAX,
  fitsShape,
  isValidExecutionName,
  modelName,
  tagSafe,
  tagSafeDecode,
  trainingJobName,
} from '../lambdas/shared/names';
import { HOSTING_INSTANCE_TYPES, SAGEMAKER_API_SOURCE, TRAINING_INSTANCE_TYPES } from '../lambdas/shared/sagemaker-api.generated';
import { ALL_ALLOWED_ASCII, EDGE_EXECUTION_NAMES, executionNameCodePoints } from './helpers/execution-names';

/**
 * Execution names reach SageMaker as resource names, tag values, model package metadata and descriptions, and S3
 * keys. Step Functions allows far more characters than SageMaker's patterns (issue 11, finding 4): these tests
 * sweep every character Step Functions allows and the names at its 80-character limit through each derivation.
 */

describe('execution names Step Functions accepts', () => {
  test('the helper agrees with the documented rule: `! \' ( ) + = @ . - _` and Unicode are in, the listed characters are out', () => {
    expect(ALL_ALLOWED_ASCII).toBe("!'()+-.0123456789=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz");
    for (const bad of [' ', '\t', '<', '>', '{', '}', '[', ']', '?', '*', '"', '#', '%', '\\', '^', '|', '~', '`', '$', '&', ',', ';', ':', '/', '\u0000', '\u001f', '\u007f', '\u009f', '\ufffe', '\uffff', '\u00a0', '\u2028']) {
      expect([bad, isValidExecutionName(`a${bad}b`)]).toEqual([bad, false]);
    }
    expect(isValidExecutionName('x'.repeat(EXECUTION_NAME_MAX))).toBe(true);
    expect(isValidExecutionName('x'.repeat(EXECUTION_NAME_MAX + 1))).toBe(false);
    for (const name of EDGE_EXECUTION_NAMES) expect([name, isValidExecutionName(name)]).toEqual([name, true]);
  });
});

describe('values derived from any execution name fit SageMaker’s patterns', () => {
  test('every character Step Functions allows, one name per 8 characters: tags, metadata, descriptions and resource names', () => {
    // GIVEN every code point an execution name may hold (about 1.1 million), in names of 8 characters
    const points = executionNameCodePoints();
    expect(points.length).toBeGreaterThan(1_100_000);
    let checked = 0;
    const failures: string[] = [];
    for (let i = 0; i < points.length; i += 8) {
      const name = String.fromCodePoint(...points.slice(i, i + 8));
      // WHEN each value is derived
      const tag = tagSafe(name);
      // THEN it fits, and the tag reads back as the name
      if (!fitsShape('TagValue', tag) || !fitsShape('CustomerMetadataValue', tag) || tagSafeDecode(tag) !== name) failures.push(`tag ${JSON.stringify(name)} -> ${tag}`);
      if (!fitsShape('EntityDescription', descriptionSafe(`relearn run ${name}: gate passed`))) failures.push(`description ${JSON.stringify(name)}`);
      if (!fitsShape('EntityName', trainingJobName('relearn', name))) failures.push(`job ${JSON.stringify(name)}`);
      checked++;
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(130_000);
  });

  test('names at the 80-character limit, with every allowed ASCII character, emoji, marks and format characters', () => {
    for (const name of EDGE_EXECUTION_NAMES) {
      const tag = tagSafe(name);
      const uri = tagSafe(`s3://relearn-artifacts-123456789012-eu-west-1/runs/${name}/evaluation/report.html`);
      for (const value of [tag, uri]) {
        expect([name, value, fitsShape('TagValue', value), fitsShape('CustomerMetadataValue', value)]).toEqual([name, value, true, true]);
      }
      // The execution name itself reads back whenever it was not hashed.
      if (!tag.startsWith('sha256:')) expect(tagSafeDecode(tag)).toBe(name);
      const description = descriptionSafe(`relearn run ${name}: ${'a reason that goes on. '.repeat(60)}`);
      expect(fitsShape('EntityDescription', description)).toBe(true);
      for (const n of [trainingJobName('relearn', name), modelName('relearn-long-name-x', name), endpointConfigName('relearn', name)]) {
        expect([name, n, fitsShape('EntityName', n)]).toEqual([name, n, true]);
      }
    }
  });

  test('a name SageMaker accepts is kept as it is; one it refuses is encoded so that no two names share a tag', () => {
    expect(tagSafe('local-20261129T093224Z-714c')).toBe('local-20261129T093224Z-714c');
    expect(tagSafe('é.ü_名前')).toBe('é.ü_名前');
    expect(tagSafe("run('a')!")).toBe('enc:run=28=27a=27=29=21');
    // `=` is escaped in an encoded value, so the kept name "a=27" and the encoded "a'" differ.
    expect(tagSafe("a='")).toBe('enc:a=3D=27');
    expect(tagSafe('a=27')).toBe('a=27');
    expect(new Set(["a'", "a''", "a'=27", 'a=27', "(a)", "a()"].map(tagSafe)).size).toBe(6);
    // 80 emoji encode to more than 256 characters: the value is a hash.
    expect(tagSafe('😀'.repeat(40))).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test('a description keeps punctuation and symbols, and replaces what SageMaker refuses (line breaks, format characters)', () => {
    expect(descriptionSafe("run('a')! ≥ 0.8 €")).toBe("run('a')! ≥ 0.8 €");
    expect(descriptionSafe('a\nb\u200dc\ue000')).toBe('a\ufffdb\ufffdc\ufffd');
    const long = descriptionSafe('😀'.repeat(600));
    expect(long.length).toBeLessThanOrEqual(1024);
    expect(long.endsWith('😀...')).toBe(true);
  });
});

describe('instance types are checked against SageMaker’s API model, for training and hosting separately', () => {
  test('the generated file is what scripts/generate-sagemaker-api.ts makes of the local server’s pinned model', () => {
    expect(generate(JSON.parse(readFileSync(SUBSET, 'utf8')))).toBe(readFileSync(OUT, 'utf8'));
  });

  test('the lists come from the pinned service model', () => {
    expect(SAGEMAKER_API_SOURCE).toMatchObject({ package: 'awscli', version: '2.9.19-1', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(TRAINING_INSTANCE_TYPES).toContain('ml.m5.large');
    expect(HOSTING_INSTANCE_TYPES).toContain('ml.m5d.xlarge');
    expect(TRAINING_INSTANCE_TYPES).not.toContain('ml.m5d.xlarge');
  });

  test('ml.m5d.xlarge hosts but cannot train; ml.t2.medium is for endpoints only; a made-up type names its family', () => {
    expect(instanceTypeProblem('training', 'ml.m5.xlarge')).toBeUndefined();
    expect(instanceTypeProblem('hosting', 'ml.m5d.xlarge')).toBeUndefined();
    expect(instanceTypeProblem('training', 'ml.m5d.xlarge')).toMatch(/TrainingInstanceType .*but got 'ml\.m5d\.xlarge' \(it is a type for endpoints \(deployment\.instanceType\) only\)/);
    expect(instanceTypeProblem('training', 'ml.m5.huge')).toMatch(/this family offers ml\.m5\.large, ml\.m5\.xlarge/);
  });

  test('config validation names the field and the reason', () => {
    expect(() => parseConfig({ training: { instanceType: 'ml.m5d.xlarge' }, deployment: { instanceType: 'ml.p9.mega' } })).toThrow(
      /training\.instanceType: must be one of SageMaker's TrainingInstanceType[^\n]*ml\.m5d\.xlarge[^\n]*\n\s+- deployment\.instanceType: [^\n]*'ml\.p9\.mega'/,
    );
    expect(parseConfig({ training: { instanceType: 'ml.g4dn.xlarge' }, deployment: { instanceType: 'ml.t2.medium' } }).deployment.instanceType).toBe('ml.t2.medium');
  });
});
