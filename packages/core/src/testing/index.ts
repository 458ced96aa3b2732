/**
 * Contract test suites and helpers for `@ncr-upload/core` ports. Every
 * implementation of a port runs the suite for it. Needs `vitest` (an optional
 * peer dependency): import this subpath from test files only.
 */
export { type CatalogContractOptions, type CatalogFixture, testCatalog } from './catalog-contract.js';
export { type CreateAndAddContractOptions, testCreateAndAdd } from './create-and-add-contract.js';
export { type DestinationContractOptions, testDestination } from './destination-contract.js';
export {
  buildZip,
  makeJob,
  makeTask,
  randomBytesOf,
  readAll,
  rejectionOf,
  settle,
  sha256,
  uniqueId,
  waitFor,
} from './helpers.js';
export { type JobQueueContractOptions, testJobQueue } from './job-queue-contract.js';
export { type StatusStoreContractOptions, testStatusStore } from './status-store-contract.js';
export { type StorageContractOptions, testStorage } from './storage-contract.js';
export { testValidator, type ValidatorContractOptions } from './validator-contract.js';
