// Turns AWS SDK failures into the backends' domain errors (../errors.ts): the message names the
// tracked path or staging key and the bucket, never credentials.
import { failedPrecondition, isFilestoreError, permissionDenied, resourceExhausted, unavailable } from '../../errors/domain-error.js';
import { describe, meta, pathMissing, type Subject } from '../errors.js';

interface AwsError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  code?: string;
}

export function awsCode(err: unknown): string | undefined {
  const e = err as AwsError;
  return typeof err === 'object' && err !== null ? (e.Code ?? e.name) : undefined;
}

export function httpStatus(err: unknown): number | undefined {
  return (err as AwsError)?.$metadata?.httpStatusCode;
}

/** A missing key, as HEAD (404 without a body) and GET (NoSuchKey) report it. */
export function isMissing(err: unknown): boolean {
  const code = awsCode(err);
  return code === 'NoSuchKey' || code === 'NotFound' || (httpStatus(err) === 404 && code !== 'NoSuchBucket');
}

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout']);

/** Maps an S3 failure to a domain error; domain errors and unknown failures pass through unchanged. */
export function s3Error(err: unknown, s: Subject, bucket: string): unknown {
  if (isFilestoreError(err)) return err;
  const code = awsCode(err);
  const status = httpStatus(err);
  if (isMissing(err)) return pathMissing(s);
  if (code === 'NoSuchBucket') {
    return failedPrecondition('BACKEND_ROOT_MISSING', `backend ${s.backendId}: bucket "${bucket}" does not exist; create it or fix "bucket" in the backends file.`, meta(s));
  }
  if (code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || status === 403) {
    return permissionDenied('BACKEND_ACCESS_DENIED', `the service's AWS credentials may not access ${describe(s)} in bucket "${bucket}" (${code ?? status}); fix the credentials or the bucket policy.`, meta(s));
  }
  if (code === 'EntityTooLarge') return resourceExhausted('UPLOAD_TOO_LARGE', `${describe(s)} is larger than the bucket accepts; send a smaller file.`, meta(s));
  const netCode = (err as AwsError)?.code ?? code;
  if (NETWORK.has(netCode ?? '') || code === 'SlowDown' || code === 'ServiceUnavailable' || (status !== undefined && status >= 500)) {
    return unavailable('BACKEND_UNAVAILABLE', `backend ${s.backendId} (bucket "${bucket}") did not answer for ${describe(s)} (${netCode ?? status}); retry.`, meta(s));
  }
  return err;
}
