/**
 * `@ncr-upload/core/s3`: S3 and S3-compatible (Wasabi, MinIO) storage and
 * catalog. The only entry point that loads `@aws-sdk/client-s3`.
 */
export { type S3CompatibleConnection, s3ClientOptionsForCompatible } from './client-options.js';
export { createS3Catalog, type S3CatalogOptions } from './s3-catalog.js';
export { isTransientS3Error, type S3ErrorContext, toS3UploadError } from './s3-errors.js';
export { createS3Storage, type S3Storage, type S3StorageOptions } from './s3-storage.js';
