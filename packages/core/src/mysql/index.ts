export { createMysqlCatalog, DEFAULT_LIST_FILES_SQL, type MysqlCatalogOptions } from './mysql-catalog.js';
export { findPlaceholders, JOB_PLACEHOLDERS, REPORT_PLACEHOLDERS } from './placeholders.js';
export type { ColumnNames } from './rows.js';
