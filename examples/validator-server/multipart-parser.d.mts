export class MultipartError extends Error {}

/** The boundary of a `multipart/form-data; boundary=...` content type, or null. */
export function multipartBoundary(contentType: string | undefined): string | null;

export interface MultipartFileSink {
  write(chunk: Buffer): Promise<void>;
  end?(): Promise<void>;
}

/** Parse a multipart/form-data body: text fields are returned, file parts streamed to `openFile`'s sink. */
export function parseMultipart(
  stream: AsyncIterable<Buffer>,
  boundary: string,
  handlers: {
    openFile: (part: { name: string; filename: string | undefined }) => MultipartFileSink | null;
    /** Largest text field, in bytes. Default 65536. */
    maxFieldBytes?: number;
  },
): Promise<Record<string, string>>;
