import { join } from 'node:path';
import { createSftpDestination, type SftpDestinationOptions } from '@ncr-upload/core/sftp';
import { testDestination } from '@ncr-upload/core/testing';
import { startSshd } from '@ncr-upload/test-kit/sshd';
import { listFiles, readOrNull, sftpOptions } from './sftp-helpers.js';

/** The contract against a real sshd; streamed uploads on the main thread (the default) and on the upload thread. */
for (const [name, extra] of [
  ['sftp (OpenSSH sshd)', {}],
  ['sftp (OpenSSH sshd), streamed uploads on the upload thread', { uploadThread: true }],
] as [string, Partial<SftpDestinationOptions>][]) {
  testDestination({
    name,
    create: async () => {
      const server = await startSshd();
      const root = join(server.root, 'contract');
      return {
        destination: createSftpDestination(
          sftpOptions(server, { remoteDir: 'contract', pool: { max: 2 }, ...extra }),
        ),
        read: (remotePath) => readOrNull(join(root, remotePath)),
        list: () => listFiles(root),
        cleanup: () => server.stop(),
      };
    },
  });
}
