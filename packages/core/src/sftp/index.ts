/**
 * `@ncr-upload/core/sftp`: deliver archives to an SFTP server (pooled
 * connections, pinned host key, atomic `.partial` + rename). This is the only
 * module that loads `ssh2-sftp-client` (an optional peer dependency).
 */
export { createSftpDestination, type SftpDestination } from './destination.js';
export { fingerprintOf } from './host-key.js';
export type { SftpDestinationOptions } from './options.js';
export type { SftpPoolStats } from './pool.js';
