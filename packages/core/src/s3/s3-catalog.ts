import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { UploadError } from '../errors.js';
import { createPrefixCatalog } from '../fs/catalogs.js';
import type { JobRequest } from '../job.js';
import type { Catalog } from '../ports/catalog.js';
import type { Storage } from '../ports/storage.js';
import { createS3Storage } from './s3-storage.js';

export interface S3CatalogOptions {
  /** A storage that can list (e.g. `createS3Storage(...)`); never closed by the catalog. Default: one made from `client`/`clientOptions` and `bucket`. */
  storage?: Storage;
  /** An S3Client you own, used when `storage` is not given. Default: one made from `clientOptions`. */
  client?: S3Client;
  /** Client options when neither `storage` nor `client` is given. Default: `{}`. */
  clientOptions?: S3ClientConfig;
  /** The bucket, required when `storage` is not given. */
  bucket?: string;
  /** Key prefix of the storage created here (see `createS3Storage`). Default: `''`. */
  storagePrefix?: string;
  /**
   * The prefix that holds a job's files, relative to the storage prefix. Each
   * file's `folder` is its sub-folder below it. Default: `{campaign}/{username}/{job_id}/`.
   */
  prefix?: (job: JobRequest) => string;
}

/** A Catalog that lists a job's files under an S3 prefix (ListObjectsV2, paginated). */
export function createS3Catalog(options: S3CatalogOptions): Catalog {
  let storage = options.storage;
  let own: Storage | undefined;
  if (!storage) {
    if (!options.bucket) {
      throw new UploadError('CONFIG_INVALID', 'createS3Catalog needs either `storage` or `bucket`.');
    }
    own = createS3Storage({
      bucket: options.bucket,
      ...(options.client ? { client: options.client } : {}),
      ...(options.clientOptions ? { clientOptions: options.clientOptions } : {}),
      ...(options.storagePrefix === undefined ? {} : { prefix: options.storagePrefix }),
    });
    storage = own;
  }
  const catalog = createPrefixCatalog({ storage, ...(options.prefix ? { prefix: options.prefix } : {}) });
  const ping = storage.ping?.bind(storage);
  return {
    listFiles: catalog.listFiles.bind(catalog),
    ...(ping ? { ping } : {}),
    async close() {
      await own?.close?.();
    },
  };
}
