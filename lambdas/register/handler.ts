import { sageMakerClient } from '../shared/clients';
import { stageHandler } from '../shared/handler';
import { registerStage } from './core';

/** Register: the evaluated candidate as a model package version (Approved, PendingManualApproval or Rejected). */
export const handler = stageHandler('Register', (event, env) => registerStage(event, env, { sagemaker: sageMakerClient() }));
