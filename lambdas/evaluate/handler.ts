import { s3Client } from '../shared/clients';
import { stageHandler } from '../shared/handler';
import { evaluateStage } from './core';

/** Evaluate: metrics, slices, bias and the gate; writes evaluation.json, report.html and decision.json. */
export const handler = stageHandler('Evaluate', (event, env) => evaluateStage(event, env, { s3: s3Client() }));
