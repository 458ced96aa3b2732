/**
 * A small streaming multipart/form-data parser: text fields are collected,
 * file parts are handed chunk by chunk to a sink, so an upload of any size
 * uses a few buffers of memory.
 */

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export class MultipartError extends Error {}

/** The boundary of a `multipart/form-data; boundary=...` content type, or null. */
export function multipartBoundary(contentType) {
  const match = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(
    contentType ?? '',
  );
  return match ? (match[1] ?? match[2]) : null;
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const disposition = headers['content-disposition'] ?? '';
  const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? /\bname=([^;\s]+)/i.exec(disposition)?.[1];
  const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
  return { name: name ?? '', filename, contentType: headers['content-type'] };
}

/**
 * Parse `stream` (an async iterable of Buffers).
 * @param {AsyncIterable<Buffer>} stream
 * @param {string} boundary
 * @param {{ openFile: (part: {name: string, filename: string}) => { write(chunk: Buffer): Promise<void> } | null, maxFieldBytes?: number }} handlers
 * @returns {Promise<Record<string, string>>} the text fields
 */
export async function parseMultipart(stream, boundary, handlers) {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const maxFieldBytes = handlers.maxFieldBytes ?? 64 * 1024;
  const fields = {};
  // A leading CRLF lets the first boundary match the same delimiter as the others.
  let buffer = Buffer.from(CRLF);
  let state = 'preamble';
  let part = null;
  let fieldChunks = [];
  let fieldBytes = 0;

  const emit = async (data) => {
    if (data.length === 0) return;
    if (part.sink) await part.sink.write(data);
    else if (!part.filename) {
      fieldBytes += data.length;
      if (fieldBytes > maxFieldBytes) throw new MultipartError(`field "${part.name}" is too large`);
      fieldChunks.push(data);
    }
  };

  const step = async () => {
    for (;;) {
      if (state === 'preamble' || state === 'body') {
        const index = buffer.indexOf(delimiter);
        if (index === -1) {
          // Keep only what could be the start of a delimiter: the rest is file bytes
          // (emitted) or preamble (dropped), so memory stays bounded whatever comes.
          const keep = Math.min(buffer.length, delimiter.length - 1);
          if (state === 'body') await emit(buffer.subarray(0, buffer.length - keep));
          buffer = buffer.subarray(buffer.length - keep);
          return;
        }
        if (state === 'body') {
          await emit(buffer.subarray(0, index));
          if (!part.filename) fields[part.name] = Buffer.concat(fieldChunks).toString('utf8');
          await part.sink?.end?.();
          part = null;
        }
        buffer = buffer.subarray(index + delimiter.length);
        state = 'after-boundary';
      }
      if (state === 'after-boundary') {
        if (buffer.length < 2) return;
        if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
          state = 'done';
          return;
        }
        state = 'headers';
      }
      if (state === 'headers') {
        const index = buffer.indexOf(HEADER_END);
        if (index === -1) {
          if (buffer.length > 16 * 1024) throw new MultipartError('part headers are too large');
          return;
        }
        const info = parseHeaders(buffer.subarray(0, index).toString('utf8'));
        buffer = buffer.subarray(index + HEADER_END.length);
        part = { ...info, sink: info.filename !== undefined ? handlers.openFile(info) : null };
        fieldChunks = [];
        fieldBytes = 0;
        state = 'body';
      }
      if (state === 'done') return;
    }
  };

  for await (const chunk of stream) {
    if (state === 'done') continue;
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    await step();
  }
  if (state !== 'done') throw new MultipartError('the multipart body ended before its closing boundary');
  return fields;
}
