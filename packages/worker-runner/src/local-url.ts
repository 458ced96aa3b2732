import type { AddressInfo } from 'node:net';

/**
 * The URL a local client reaches a listening server at: a wildcard address
 * (`0.0.0.0`, `::`) is reached through the loopback one; IPv6 gets brackets.
 */
export function localUrl(address: Pick<AddressInfo, 'address' | 'port'>): string {
  const host = ['0.0.0.0', '::'].includes(address.address) ? '127.0.0.1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}
