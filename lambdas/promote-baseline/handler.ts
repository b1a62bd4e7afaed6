import { stageHandler } from '../shared/handler';
import { promoteBaseline } from './core';

export const handler = stageHandler('PromoteBaseline', promoteBaseline);
