import type { S3ClientConfig } from '@aws-sdk/client-s3';

/** Connection facts for an S3-compatible service (Wasabi, MinIO, Ceph, s3rver). */
export interface S3CompatibleConnection {
  /** The service URL, e.g. `https://s3.wasabisys.com` or `http://127.0.0.1:9000`. Required. */
  endpoint: string;
  /** The bucket's region, e.g. `us-east-1` (Wasabi: the region of the bucket). Default: `us-east-1`. */
  region?: string;
  /** Access key id. Required. */
  accessKeyId: string;
  /** Secret access key. Required; never logged nor put in error messages. */
  secretAccessKey: string;
  /** Session token of temporary credentials. Default: none. */
  sessionToken?: string;
  /**
   * Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
   * Default: `true` (what S3-compatible services and test servers expect).
   */
  forcePathStyle?: boolean;
}

/**
 * S3Client options for an S3-compatible service.
 *
 * Besides path-style addressing it sets `requestChecksumCalculation` and
 * `responseChecksumValidation` to `'WHEN_REQUIRED'`: with the SDK's newer
 * defaults a stream upload is sent as `aws-chunked` with a checksum trailer,
 * which some S3-compatible servers store as the object's content without
 * reporting an error.
 */
export function s3ClientOptionsForCompatible(connection: S3CompatibleConnection): S3ClientConfig {
  return {
    endpoint: connection.endpoint,
    region: connection.region ?? 'us-east-1',
    forcePathStyle: connection.forcePathStyle ?? true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: {
      accessKeyId: connection.accessKeyId,
      secretAccessKey: connection.secretAccessKey,
      ...(connection.sessionToken === undefined ? {} : { sessionToken: connection.sessionToken }),
    },
  };
}
