import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { getStream, parseS3Uri } from './s3';
import { readFileFromTarGz } from './tar-gz';

/**
 * One line of predictions.jsonl, the training script's output (docs/training-contract.md):
 * the candidate's and the champion's score for one validation row.
 */
export const PredictionRowSchema = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  label: z.number(),
  candidate: z.number(),
  champion: z.number().nullable().optional().transform((v) => (v === undefined ? null : v)),
});
export type PredictionRow = z.infer<typeof PredictionRowSchema>;

export const PREDICTIONS_FILE = 'predictions.jsonl';

/** Parses predictions.jsonl; a bad line fails with the file and line number. */
export function parsePredictions(text: string, file = PREDICTIONS_FILE): PredictionRow[] {
  const rows: PredictionRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${file} line ${i + 1}: not valid JSON`);
    }
    const parsed = PredictionRowSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${file} line ${i + 1}: field "${issue.path.join('.')}": ${issue.message}`);
    }
    rows.push(parsed.data);
  }
  return rows;
}

/** The predictions a training job wrote, read from its output.tar.gz in S3. */
export async function readPredictions(s3: S3Client, outputDataUri: string): Promise<PredictionRow[]> {
  const { bucket, key } = parseS3Uri(outputDataUri);
  const body = await getStream(s3, bucket, key);
  const file = await readFileFromTarGz(body, PREDICTIONS_FILE, outputDataUri);
  if (!file) throw new Error(`${outputDataUri} has no ${PREDICTIONS_FILE}: the training script must write it to SM_OUTPUT_DATA_DIR`);
  return parsePredictions(file.toString('utf8'), `${outputDataUri}!${PREDICTIONS_FILE}`);
}
