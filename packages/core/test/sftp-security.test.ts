import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isUploadError, type UploadError } from '@ncr-upload/core';
import { createSftpDestination } from '@ncr-upload/core/sftp';
import { startSshd } from '@ncr-upload/test-kit/sshd';
import { describe, expect, it } from 'vitest';
import { sftpOptions, useSftpServer } from './sftp-helpers.js';

const run = promisify(execFile);

const sftp = useSftpServer();
const destination = sftp.open;

function creationError(options: Parameters<typeof createSftpDestination>[0]): UploadError {
  try {
    createSftpDestination(options);
  } catch (error) {
    if (isUploadError(error)) return error;
    throw error;
  }
  throw new Error('createSftpDestination accepted the options');
}

const recordingLogger = () => {
  const warnings: string[] = [];
  const ignore = () => {};
  return {
    warnings,
    logger: {
      debug: ignore,
      info: ignore,
      error: ignore,
      warn: (_: object, message?: string) => warnings.push(message ?? ''),
    },
  };
};

describe('sftp destination: host key pinning', () => {
  it('the fingerprint matches what ssh-keyscan | ssh-keygen -lf - prints', async () => {
    const { stdout } = await run('sh', [
      '-c',
      `ssh-keyscan -p ${sftp.server.port} -t ed25519 127.0.0.1 2>/dev/null | ssh-keygen -lf -`,
    ]);
    expect(stdout).toContain(sftp.server.hostFingerprint);
  });

  it('refuses a server whose host key differs from the pinned one, with both fingerprints', async () => {
    const wrong = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const source = await sftp.local.file('pinned.txt', 'secret payload');
    const target = destination(sftpOptions(sftp.server, { hostFingerprint: wrong }));
    const error = (await target
      .upload(source, 'pinned.txt')
      .catch((caught: unknown) => caught)) as UploadError;
    expect(error).toMatchObject({ code: 'HOST_KEY_MISMATCH', retryable: false, stage: 'deliver' });
    expect(error.message).toContain(wrong);
    expect(error.message).toContain(sftp.server.hostFingerprint);
    expect(await readFile(join(sftp.server.root, 'pinned.txt')).catch(() => null)).toBeNull();
  });

  it('accepts the fingerprint with base64 padding', async () => {
    const target = destination(
      sftpOptions(sftp.server, { hostFingerprint: `${sftp.server.hostFingerprint}=` }),
    );
    await target.ping();
  });

  it('requires a fingerprint unless the check is explicitly skipped', () => {
    const { hostFingerprint: _, ...unpinned } = sftpOptions(sftp.server);
    const error = creationError(unpinned);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('hostFingerprint');
  });

  it('refuses a malformed fingerprint', () => {
    const error = creationError(sftpOptions(sftp.server, { hostFingerprint: 'MD5:aa:bb' }));
    expect(error.code).toBe('CONFIG_INVALID');
  });

  it('insecureSkipHostKeyCheck connects to any host and logs a warning', async () => {
    const { hostFingerprint: _, ...unpinned } = sftpOptions(sftp.server);
    const { warnings, logger } = recordingLogger();
    const target = destination({ ...unpinned, insecureSkipHostKeyCheck: true, logger });
    expect(warnings.join('\n')).toMatch(/host key checking is DISABLED/);
    await target.ping();
  });
});

describe('sftp destination: credentials and connection errors', () => {
  it('a wrong user key is ACCESS_DENIED, not retryable', async () => {
    const directory = join(sftp.local.dir, 'other-key');
    await run('mkdir', ['-p', directory]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(directory, 'key')]);
    const privateKey = await readFile(join(directory, 'key'), 'utf8');
    const target = destination(sftpOptions(sftp.server, { privateKey }));
    const error = (await target.ping().catch((caught: unknown) => caught)) as UploadError;
    expect(error).toMatchObject({ code: 'ACCESS_DENIED', retryable: false });
    expect(error.message).not.toContain('PRIVATE KEY');
  });

  it('a refused password is ACCESS_DENIED and the password appears nowhere in the error', async () => {
    const password = 'hunter2-do-not-leak';
    const { privateKey: _, ...withoutKey } = sftpOptions(sftp.server);
    const target = destination({ ...withoutKey, password });
    const error = (await target.ping().catch((caught: unknown) => caught)) as UploadError;
    expect(error.code).toBe('ACCESS_DENIED');
    expect(JSON.stringify(error.toJSON())).not.toContain(password);
    expect(error.message).not.toContain(password);
  });

  it('an unreadable private key is CONFIG_INVALID', async () => {
    const target = destination(sftpOptions(sftp.server, { privateKey: 'not a key' }));
    await expect(target.ping()).rejects.toMatchObject({ code: 'CONFIG_INVALID', retryable: false });
  });

  it('no way to log in is CONFIG_INVALID at creation', () => {
    const { privateKey: _, ...withoutKey } = sftpOptions(sftp.server);
    expect(creationError(withoutKey).code).toBe('CONFIG_INVALID');
  });

  it('unknown options and bad values are CONFIG_INVALID without echoing secrets', () => {
    const error = creationError({
      ...sftpOptions(sftp.server),
      port: 70_000,
      password: 'p4ss-w0rd',
      poool: 1,
    } as never);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('port');
    expect(JSON.stringify(error.toJSON())).not.toContain('p4ss-w0rd');
  });

  it('a refused connection is CONNECTION_ERROR, retryable', async () => {
    const stopped = await startSshd();
    await stopped.stop();
    const target = destination(sftpOptions(stopped));
    const source = await sftp.local.file('refused.txt', 'x');
    await expect(target.upload(source, 'refused.txt')).rejects.toMatchObject({
      code: 'CONNECTION_ERROR',
      retryable: true,
      stage: 'deliver',
    });
  });
});
