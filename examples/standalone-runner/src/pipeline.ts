/**
 * A pipeline module: the runner's child processes import it and call
 * `createPipeline(context)`. Use `context.statusStore` (the parent's store over
 * IPC) unless your pipeline shares a Redis store of its own.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUploadPipeline, type StatusStore, type Validator } from '@ncr-upload/core';
import { createFolderDestination, createFolderStorage, createPrefixCatalog } from '@ncr-upload/core/fs';

// A temp folder unless EXAMPLE_DATA_DIR says otherwise: nothing is left in the checkout.
const root = process.env.EXAMPLE_DATA_DIR ?? join(tmpdir(), 'ncr-upload-standalone-example');

/** A custom validator: refuse archives without files. */
const validator: Validator = {
  async validate(archive) {
    return archive.entries.length > 0
      ? { valid: true, errors: [] }
      : { valid: false, errors: [{ code: 'EMPTY', message: 'the archive holds no files' }] };
  },
};

export function createPipeline(context: { statusStore?: StatusStore } = {}) {
  const storage = createFolderStorage({ root: `${root}/storage` });
  return createUploadPipeline({
    storage,
    catalog: createPrefixCatalog({ storage }),
    validator,
    destination: createFolderDestination({ root: `${root}/outbox` }),
    ...(context.statusStore ? { statusStore: context.statusStore } : {}),
  });
}
