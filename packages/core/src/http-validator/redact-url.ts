/**
 * A URL as it may appear in messages and logs: no user name or password, and
 * every query value replaced by `***` (query strings often carry tokens).
 */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return '<invalid url>';
  }
  const names = [...new Set(parsed.searchParams.keys())];
  const query =
    names.length > 0 ? `?${names.map((name) => `${encodeURIComponent(name)}=***`).join('&')}` : '';
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
}
