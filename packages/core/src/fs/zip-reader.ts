import yauzl from 'yauzl';

/** Promise wrappers over yauzl's callback API (lazy entries, raw names). */

export type ZipFile = yauzl.ZipFile;
export type Entry = yauzl.Entry & { fileNameRaw: Buffer };
export const lowLevel = yauzl as unknown as {
  getFileNameLowLevel(flags: number, raw: Buffer, extraFields: Entry['extraFields'], strict: boolean): string;
};

const OPTIONS = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true };

export function openZip(path: string): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, OPTIONS, (error, zip) =>
      error || !zip ? reject(error ?? new Error('no zip')) : resolve(zip),
    );
  });
}

/** The same reader over a zip held in memory. */
export function openZipBuffer(data: Buffer): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(data, OPTIONS, (error, zip) =>
      error || !zip ? reject(error ?? new Error('no zip')) : resolve(zip),
    );
  });
}

export function readStream(zip: ZipFile, entry: Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) =>
      error || !stream ? reject(error ?? new Error('no stream')) : resolve(stream),
    );
  });
}

export function nextEntry(zip: ZipFile): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const done = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: Entry) => {
      done();
      resolve(entry);
    };
    const onEnd = () => {
      done();
      resolve(null);
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/**
 * A stored (uncompressed) entry's bytes in place in the zip `data`, found
 * through its local header; undefined for anything else (compressed or
 * encrypted, sizes that disagree, a header or data outside the buffer), which
 * the caller reads through yauzl's stream and its checks instead.
 */
export function storedBytes(data: Buffer, entry: Entry): Buffer | undefined {
  if (entry.compressionMethod !== 0 || (entry.generalPurposeBitFlag & 1) !== 0) return undefined;
  if (entry.compressedSize !== entry.uncompressedSize) return undefined;
  const header = entry.relativeOffsetOfLocalHeader;
  if (header < 0 || header + 30 > data.length || data.readUInt32LE(header) !== 0x04034b50) return undefined;
  const start = header + 30 + data.readUInt16LE(header + 26) + data.readUInt16LE(header + 28);
  const end = start + entry.compressedSize;
  if (end > data.length) return undefined;
  return data.subarray(start, end);
}
