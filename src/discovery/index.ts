/**
 * Discovery: finds Raspberry Pis on the LAN with no typing, from mDNS advertisements (stock
 * Raspberry Pi OS and our agent), an SSH scan of a range, and DHCP lease files; merges them into one
 * record per machine. A self-contained library: the store, event bus and logger are passed in.
 */
export * from './errors.js';
export * from './cidr.js';
export * from './oui.js';
export * from './leases.js';
export * from '../mdns/dns.js';
export * from './mdns.js';
export * from './scan.js';
export * from './merge.js';
export * from './service.js';
export * from './probe.js';
export * from './config.js';
