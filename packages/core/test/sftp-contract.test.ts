import { join } from 'node:path';
import { createSftpDestination } from '@ncr-upload/core/sftp';
import { testDestination } from '@ncr-upload/core/testing';
import { startSshd } from '@ncr-upload/test-kit/sshd';
import { listFiles, readOrNull, sftpOptions } from './sftp-helpers.js';

testDestination({
  name: 'sftp (OpenSSH sshd)',
  create: async () => {
    const server = await startSshd();
    const root = join(server.root, 'contract');
    return {
      destination: createSftpDestination(sftpOptions(server, { remoteDir: 'contract', pool: { max: 2 } })),
      read: (remotePath) => readOrNull(join(root, remotePath)),
      list: () => listFiles(root),
      cleanup: () => server.stop(),
    };
  },
});
