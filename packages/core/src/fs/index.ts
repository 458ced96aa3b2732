/**
 * Embedded adapters that need no server: a local folder as storage and as
 * destination, catalogs over a storage prefix or a static map, and built-in
 * archive rules as validator. With these the pipeline runs a whole job with
 * nothing configured.
 */
export {
  type BuiltinValidationCode,
  type BuiltinValidator,
  type BuiltinValidatorOptions,
  createBuiltinValidator,
} from './builtin-validator.js';
export {
  createPrefixCatalog,
  createStaticCatalog,
  defaultJobPrefix,
  type PrefixCatalogOptions,
  type StaticCatalogSource,
} from './catalogs.js';
export {
  createFolderDestination,
  type FolderDestination,
  type FolderDestinationOptions,
} from './folder-destination.js';
export { createFolderStorage, type FolderStorage, type FolderStorageOptions } from './folder-storage.js';
