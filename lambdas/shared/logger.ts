import { Logger } from '@aws-lambda-powertools/logger';

/** One structured logger for every stage (Powertools). Service name comes from POWERTOOLS_SERVICE_NAME. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'relearn' });
