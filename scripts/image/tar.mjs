// A small reproducible tar writer for image layers: POSIX ustar headers, a PAX record where a path
// or link target is too long for them, entries in byte order of their paths, every parent
// directory written before what it holds, owner 0:0 and one fixed modification time. The same
// entries always give the same bytes.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @typedef {{ type: 'file', mode: number, data: Buffer }
 *   | { type: 'dir', mode: number }
 *   | { type: 'symlink', link: string }} Entry
 * Paths are relative to the root, with '/' separators and no leading or trailing slash.
 */

const BLOCK = 512;

function octal(n, width) {
  // width bytes: zero-padded octal digits and a NUL.
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header({ name, mode, size, mtime, type, link }) {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write(type, 156, 'ascii');
  if (link) h.write(link, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii'); // uname
  h.write('root', 297, 'ascii'); // gname
  h.write(octal(0, 8), 329, 'ascii'); // devmajor
  h.write(octal(0, 8), 337, 'ascii'); // devminor
  // The checksum is summed with its own field as eight spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

function padded(data) {
  const rest = data.length % BLOCK;
  return rest ? [data, Buffer.alloc(BLOCK - rest)] : [data];
}

/** One PAX record, "<length> <key>=<value>\n", where the length counts the whole record. */
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return `${len}${body}`;
}

/**
 * The tar archive of `entries` (a Map from path to Entry), ending with the two zero blocks.
 * Parents missing from the map are added as 0755 directories.
 * @param {Map<string, Entry>} entries
 * @param {number} mtime seconds since the epoch, for every entry
 * @returns {Buffer}
 */
export function tarball(entries, mtime) {
  const all = new Map(entries);
  for (const path of entries.keys()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!all.has(dir)) all.set(dir, { type: 'dir', mode: 0o755 });
    }
  }
  // Byte order: a directory's path is a prefix of its children's, so it sorts before them.
  const paths = [...all.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out = [];
  for (const path of paths) {
    const e = all.get(path);
    const name = e.type === 'dir' ? `${path}/` : path;
    const link = e.type === 'symlink' ? e.link : '';
    const data = e.type === 'file' ? e.data : Buffer.alloc(0);
    const pax = [];
    if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', name));
    if (Buffer.byteLength(link) > 100) pax.push(paxRecord('linkpath', link));
    if (pax.length) {
      const body = Buffer.from(pax.join(''));
      out.push(header({ name: 'PaxHeader', mode: 0o644, size: body.length, mtime, type: 'x', link: '' }), ...padded(body));
    }
    const type = e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0';
    const mode = e.type === 'symlink' ? 0o777 : e.mode;
    out.push(header({ name: Buffer.byteLength(name) > 100 ? name.slice(0, 99) : name, mode, size: data.length, mtime, type, link }));
    if (data.length) out.push(...padded(data));
  }
  out.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(out);
}

/**
 * Adds the tree under `dir` to `entries` below `prefix`: regular files (mode 0755 when any
 * execute bit is set, else 0644), directories and symbolic links; `skip(relativePath)` leaves a
 * path and everything under it out.
 * @param {Map<string, Entry>} entries
 * @param {string} dir
 * @param {string} prefix
 * @param {(rel: string) => boolean} [skip]
 */
export function addTree(entries, dir, prefix, skip = () => false) {
  const walk = (abs, rel) => {
    for (const name of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const p = join(abs, name);
      const st = lstatSync(p);
      const at = `${prefix}/${r}`;
      if (st.isSymbolicLink()) entries.set(at, { type: 'symlink', link: readlinkSync(p) });
      else if (st.isDirectory()) {
        entries.set(at, { type: 'dir', mode: 0o755 });
        walk(p, r);
      } else if (st.isFile()) entries.set(at, { type: 'file', mode: st.mode & 0o111 ? 0o755 : 0o644, data: readFileSync(p) });
    }
  };
  entries.set(prefix, { type: 'dir', mode: 0o755 });
  walk(dir, '');
}
