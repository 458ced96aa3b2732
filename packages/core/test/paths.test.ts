import { describe, expect, it } from 'vitest';
import { UploadError } from '../src/errors.js';
import { assertUniquePaths, baseName, safeRelativePath, safeSegment } from '../src/paths.js';

const REFUSED = Symbol('refused with UNSAFE_PATH');
type Row = [label: string, input: string, expected: string | typeof REFUSED];

function refusal(input: string): UploadError {
  try {
    safeRelativePath(input);
  } catch (error) {
    return error as UploadError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

/** Hostile and awkward names: each is refused with UNSAFE_PATH or made safe to exactly this. */
const rows: Row[] = [
  ['parent folder', '../x', REFUSED],
  ['climbs after a folder', 'a/../../b', REFUSED],
  ['climbs and comes back', 'a/../a/b', REFUSED],
  ['bare ..', '..', REFUSED],
  ['absolute POSIX', '/etc/passwd', REFUSED],
  ['absolute with backslash', '\\etc\\passwd', REFUSED],
  ['drive letter', 'C:\\Windows', REFUSED],
  ['drive letter, forward slash', 'c:/x', REFUSED],
  ['drive-relative', 'c:x', REFUSED],
  ['UNC share', '\\\\server\\share', REFUSED],
  ['backslash parents', '..\\..\\x', REFUSED],
  ['mixed separators climbing', 'a\\..\\../b', REFUSED],
  ['NUL', 'a\0b', REFUSED],
  ['NUL at end (C truncation)', 'report.pdf\0.exe', REFUSED],
  ['C0 control', 'a\u0001b', REFUSED],
  ['newline', 'a\nb', REFUSED],
  ['carriage return', 'a\rb', REFUSED],
  ['tab', 'a\tb', REFUSED],
  ['escape (terminal)', 'a\u001b[31mb', REFUSED],
  ['DEL', 'a\u007fb', REFUSED],
  ['C1 control: next line U+0085', 'a\u0085b', REFUSED],
  ['C1 control: CSI U+009B (terminal escapes)', 'a\u009b31mb', REFUSED],
  // U+202E is not a C0 control, but it is refused: it reverses how the rest of the name is shown.
  ['right-to-left override spoofing an extension', 'invoice\u202efdp.exe', REFUSED],
  ['bidi isolate U+2066', 'a\u2066b', REFUSED],
  ['left-to-right mark U+200E', 'a\u200eb', REFUSED],
  ['trailing dot', 'a.', REFUSED],
  ['trailing space', 'a ', REFUSED],
  ['trailing dot on a folder', 'folder./x', REFUSED],
  ['three dots', '...', REFUSED],
  ['segment of 256 bytes', 'x'.repeat(256), REFUSED],
  ['segment of 300 bytes', 'y'.repeat(300), REFUSED],
  ['128 two-byte letters (256 bytes)', 'é'.repeat(128), REFUSED],
  ['path over 1024 bytes', Array.from({ length: 5 }, () => 'z'.repeat(250)).join('/'), REFUSED],
  ['empty', '', REFUSED],
  ['dot', '.', REFUSED],
  ['only separators', '///', REFUSED],
  ['only dot segments', './/./', REFUSED],
  // Made safe:
  ['dot segment dropped', 'a/./b', 'a/b'],
  ['double slash collapsed', 'a//b', 'a/b'],
  ['leading ./', './a', 'a'],
  ['trailing slash', 'a/b/', 'a/b'],
  ['backslash is a separator', 'a\\b', 'a/b'],
  ['segment of exactly 255 bytes', 'x'.repeat(255), 'x'.repeat(255)],
  ['NFD becomes NFC', 'cafe\u0301.txt', 'caf\u00e9.txt'],
  ['percent-encoded dots stay literal', '%2e%2e/x', '%2e%2e/x'],
  ['percent-encoded slash stays literal', 'a%2fb', 'a%2fb'],
  ['full-width dots are not dots', '\uff0e\uff0e/x', '\uff0e\uff0e/x'],
  ['one-dot leader is not a dot', '\u2024\u2024/x', '\u2024\u2024/x'],
  ['division slash is not a separator', 'a\u2215b', 'a\u2215b'],
  ['dot file', '.hidden', '.hidden'],
  ['leading space', ' a', ' a'],
  ['tilde is literal', '~/x', '~/x'],
  ['colon after the first character', 'ab:c', 'ab:c'],
  ['Windows device name (valid on POSIX and in zips)', 'con', 'con'],
];

describe('safeRelativePath: hostile names', () => {
  it.each(rows)('%s', (_label, input, expected) => {
    if (expected === REFUSED) {
      const error = refusal(input);
      expect(error).toBeInstanceOf(UploadError);
      expect(error.code).toBe('UNSAFE_PATH');
      expect(error.stage).toBe('layout');
      expect(error.retryable).toBe(false);
    } else {
      expect(safeRelativePath(input)).toBe(expected);
    }
  });

  it('covers at least 25 hostile inputs', () => {
    expect(rows.filter((row) => row[2] === REFUSED).length).toBeGreaterThanOrEqual(25);
  });

  it('never returns a path that climbs, is absolute or has empty segments', () => {
    for (const [, input, expected] of rows) {
      if (expected === REFUSED) continue;
      const result = safeRelativePath(input);
      expect(result.startsWith('/')).toBe(false);
      expect(result.split('/')).not.toContain('..');
      expect(result.split('/')).not.toContain('');
      expect(safeRelativePath(result)).toBe(result);
    }
  });

  it('shows NUL escaped in the message, and keeps long inputs short', () => {
    expect(refusal('a\0b').message).toContain('a\\\\0b');
    expect(refusal('q'.repeat(5000)).message.length).toBeLessThan(400);
  });
});

describe('safeSegment', () => {
  it('accepts one name and refuses a path', () => {
    expect(safeSegment('report.pdf')).toBe('report.pdf');
    expect(() => safeSegment('a/b')).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(() => safeSegment('a\\b')).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(() => safeSegment('..')).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
  });
});

describe('assertUniquePaths', () => {
  const duplicate = (paths: string[]) => {
    try {
      assertUniquePaths(paths);
    } catch (error) {
      return error as UploadError;
    }
    return null;
  };

  it('refuses NFD and NFC spellings of the same name', () => {
    const error = duplicate(['caf\u00e9.txt', 'cafe\u0301.txt']);
    expect(error?.code).toBe('DUPLICATE_PATH');
    expect(error?.details).toEqual({ paths: ['caf\u00e9.txt', 'cafe\u0301.txt'] });
  });

  it('refuses names that differ only in case', () => {
    expect(duplicate(['a/Report.PDF', 'a/report.pdf'])?.code).toBe('DUPLICATE_PATH');
    expect(duplicate(['A/x', 'a/x'])?.code).toBe('DUPLICATE_PATH');
  });

  it('refuses exact duplicates and accepts distinct names', () => {
    expect(duplicate(['x', 'x'])?.code).toBe('DUPLICATE_PATH');
    expect(duplicate(['a/x', 'a/y', 'A/z', 'b/x'])).toBeNull();
  });

  it('finds duplicates that only appear once paths are made safe', () => {
    expect(duplicate(['a//b', 'a/./b'].map(safeRelativePath))?.code).toBe('DUPLICATE_PATH');
  });
});

describe('baseName', () => {
  it('takes the last segment', () => {
    expect(baseName('a/b/c.txt')).toBe('c.txt');
    expect(baseName('a\\b\\c.txt')).toBe('c.txt');
    expect(baseName('a/b/')).toBe('b');
  });
});

/** Holes found in an earlier paths.ts (kept as regressions). */
describe('invisible separators, lone surrogates, file-versus-folder collisions', () => {
  it('refuses U+2028 / U+2029 (line and paragraph separators: they split log lines)', () => {
    expect(refusal('a\u2028b').code).toBe('UNSAFE_PATH');
    expect(refusal('a\u2029b').code).toBe('UNSAFE_PATH');
  });

  it('refuses U+061C (Arabic letter mark), the one bidi control the regex misses', () => {
    expect(refusal('a\u061cb').code).toBe('UNSAFE_PATH');
  });

  it('refuses lone surrogates: "a\\uD800" and "a\\uDC00" are one file on disk', () => {
    // Both encode to the same UTF-8 bytes (U+FFFD), so the second write would replace the first.
    expect(Buffer.from('a\ud800').equals(Buffer.from('a\udc00'))).toBe(true);
    expect(refusal('a\ud800').code).toBe('UNSAFE_PATH');
  });

  it('refuses a file whose name is another entry’s folder ("a" and "a/b")', () => {
    expect(() => assertUniquePaths(['a', 'a/b'])).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_PATH' }),
    );
  });
});
