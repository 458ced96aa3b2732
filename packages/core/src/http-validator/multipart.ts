import { randomBytes } from 'node:crypto';

/** One text field of a multipart/form-data body. */
export interface MultipartField {
  name: string;
  value: string;
}

export interface MultipartFrame {
  boundary: string;
  contentType: string;
  /** Everything before the file's bytes: the text fields and the file part's headers. */
  preamble: Buffer;
  /** Everything after the file's bytes: the closing boundary. */
  epilogue: Buffer;
  /** The closing boundary preceded by more text fields (sent after the file, e.g. its sha256 once known). */
  epilogueWith(fields: MultipartField[]): Buffer;
}

const quote = (value: string) => value.replace(/[\r\n"\\]/g, (char) => encodeURIComponent(char));

/**
 * The bytes that surround a streamed file in a multipart/form-data body, so
 * the body's length is known before sending (`preamble + file size + epilogue`).
 */
export function multipartFrame(
  fields: MultipartField[],
  fileField: string,
  fileName: string,
): MultipartFrame {
  const boundary = `----ncr-upload-${randomBytes(16).toString('hex')}`;
  const part = (field: MultipartField) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${quote(field.name)}"\r\n\r\n${field.value}\r\n`;
  const parts = fields.map(part);
  parts.push(
    `--${boundary}\r\nContent-Disposition: form-data; name="${quote(fileField)}"; filename="${quote(fileName)}"\r\n` +
      'Content-Type: application/zip\r\n\r\n',
  );
  return {
    boundary,
    contentType: `multipart/form-data; boundary=${boundary}`,
    preamble: Buffer.from(parts.join(''), 'utf8'),
    epilogue: Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8'),
    epilogueWith: (more) => Buffer.from(`\r\n${more.map(part).join('')}--${boundary}--\r\n`, 'utf8'),
  };
}
