/** `scheme://user:password@host` → `scheme://***@host`, wherever it appears in a text. */
export function redactCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@?#]*@/gi, '$1***@');
}
