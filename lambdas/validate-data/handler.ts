import { s3Client } from '../shared/clients';
import { stageHandler } from '../shared/handler';
import { validateData } from './core';

/** ValidateData: merged statistics + anomaly rules; blocking anomalies throw DataValidationFailed. */
export const handler = stageHandler('ValidateData', (event, env) =>
  validateData(event, { s3: s3Client(), artifactsBucket: env.artifactsBucket, kmsKeyArn: env.kmsKeyArn, config: env.config, curatedSchemaUri: env.curatedSchemaUri }),
);
