import { stageHandler } from '../shared/handler';
import { checkEndpoint } from './core';

export const handler = stageHandler('CheckEndpoint', checkEndpoint);
