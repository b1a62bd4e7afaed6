import { stageHandler } from '../shared/handler';
import { deploy } from './core';

export const handler = stageHandler('Deploy', deploy);
