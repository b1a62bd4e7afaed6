import { stageHandler } from '../shared/handler';
import { verifyServing } from './core';

export const handler = stageHandler('VerifyServing', verifyServing);
