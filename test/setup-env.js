// Local-mode S3 quirks (see docs/architecture.md): s3rver stores the SDK's trailing CRC32 checksum
// as part of the object unless checksums are only sent when required.
process.env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_REQUIRED';
process.env.AWS_RESPONSE_CHECKSUM_VALIDATION = 'WHEN_REQUIRED';
process.env.AWS_REGION = process.env.AWS_REGION || 'us-east-1';
process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL || 'SILENT';
// Powertools metrics (EMF lines on stdout) stay quiet in tests; test/telemetry.test.ts turns them on where it checks them.
process.env.POWERTOOLS_METRICS_DISABLED = process.env.POWERTOOLS_METRICS_DISABLED || 'true';
