/**
 * The DNS wire format, as much as mDNS discovery and the agent's advertiser need (RFC 1035,
 * RFC 6762): queries and responses out, and the answer and additional sections of responses in, for A, AAAA, PTR, SRV and TXT records, with name
 * compression. Decoding is bounded (labels, pointers and records are counted) and never throws on
 * hostile input: a malformed packet decodes to `undefined`.
 */

/** The mDNS group and port (RFC 6762). */
export const MDNS_GROUP = '224.0.0.251';
export const MDNS_PORT = 5353;

export const RR_TYPE = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;
export type RecordTypeName = keyof typeof RR_TYPE;

export interface Question {
  name: string;
  type: RecordTypeName;
  /** Ask for a unicast answer (the QU bit). */
  unicastResponse?: boolean;
}

export type DnsRecord =
  | { type: 'A'; name: string; ttl: number; data: string }
  | { type: 'AAAA'; name: string; ttl: number; data: string }
  | { type: 'PTR'; name: string; ttl: number; data: string }
  | { type: 'SRV'; name: string; ttl: number; data: { target: string; port: number; priority: number; weight: number } }
  | { type: 'TXT'; name: string; ttl: number; data: Buffer[] };

export interface Packet {
  id: number;
  response: boolean;
  questions: Question[];
  answers: DnsRecord[];
  additionals: DnsRecord[];
}

const MAX_RECORDS = 512;
const MAX_POINTER_HOPS = 32;

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label === '') continue;
    const b = Buffer.from(label, 'utf8');
    if (b.length > 63) throw new RangeError(`DNS label longer than 63 bytes: ${JSON.stringify(label)}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Encodes a query (id 0, as mDNS wants) for the given questions. */
export function encodeQuery(questions: Question[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(questions.length, 4);
  const qs = questions.map((q) => {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(RR_TYPE[q.type], 0);
    tail.writeUInt16BE((q.unicastResponse ? 0x8000 : 0) | 1, 2);
    return Buffer.concat([encodeName(q.name), tail]);
  });
  return Buffer.concat([header, ...qs]);
}

function encodeRecord(r: DnsRecord): Buffer {
  let rdata: Buffer;
  switch (r.type) {
    case 'A':
      rdata = Buffer.from(r.data.split('.').map(Number));
      break;
    case 'AAAA': {
      rdata = Buffer.alloc(16);
      const [head = '', tail = ''] = r.data.split('::');
      const h = head ? head.split(':') : [];
      const t = tail ? tail.split(':') : [];
      const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
      groups.forEach((g, i) => rdata.writeUInt16BE(parseInt(g, 16), i * 2));
      break;
    }
    case 'PTR':
      rdata = encodeName(r.data);
      break;
    case 'SRV': {
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(r.data.priority, 0);
      fixed.writeUInt16BE(r.data.weight, 2);
      fixed.writeUInt16BE(r.data.port, 4);
      rdata = Buffer.concat([fixed, encodeName(r.data.target)]);
      break;
    }
    case 'TXT':
      rdata = Buffer.concat(r.data.flatMap((s) => [Buffer.from([Math.min(255, s.length)]), s.subarray(0, 255)]));
      break;
  }
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(RR_TYPE[r.type], 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(r.ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(r.name), fixed, rdata]);
}

/**
 * Encodes a response (the agent's advertiser and the lab's test advertisers). A reply to a legacy
 * unicast query repeats its `id` and `questions` (RFC 6762 6.7); multicast responses have neither.
 */
export function encodeResponse(
  answers: DnsRecord[],
  additionals: DnsRecord[] = [],
  opts: { id?: number; questions?: Question[] } = {},
): Buffer {
  const questions = opts.questions ?? [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(opts.id ?? 0, 0);
  header.writeUInt16BE(0x8400, 2); // response, authoritative
  header.writeUInt16BE(questions.length, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(additionals.length, 10);
  const qs = questions.map((q) => {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(RR_TYPE[q.type], 0);
    tail.writeUInt16BE(1, 2);
    return Buffer.concat([encodeName(q.name), tail]);
  });
  return Buffer.concat([header, ...qs, ...answers.map(encodeRecord), ...additionals.map(encodeRecord)]);
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError('truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** A possibly compressed name; labels are decoded as UTF-8 and kept verbatim (dots inside a label stay). */
  name(): string {
    const labels: string[] = [];
    let pos = this.pos;
    let jumped = false;
    for (let hops = 0; ;) {
      if (pos >= this.buf.length) throw new RangeError('truncated name');
      const len = this.buf[pos]!;
      if (len === 0) {
        pos += 1;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length || ++hops > MAX_POINTER_HOPS) throw new RangeError('bad name pointer');
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if (len > 63 || pos + 1 + len > this.buf.length) throw new RangeError('bad label');
      labels.push(this.buf.toString('utf8', pos + 1, pos + 1 + len));
      pos += 1 + len;
      if (labels.length > 128) throw new RangeError('name too long');
    }
    if (!jumped) this.pos = pos;
    return labels.join('.');
  }
}

function readRecord(r: Reader): DnsRecord | null {
  const name = r.name();
  const type = r.u16();
  r.u16(); // class (with the cache-flush bit)
  const ttl = r.u32();
  const len = r.u16();
  r.need(len);
  const end = r.pos + len;
  const sub = new Reader(r.buf, r.pos);
  let rec: DnsRecord | null = null;
  switch (type) {
    case RR_TYPE.A:
      if (len === 4) rec = { type: 'A', name, ttl, data: [...r.buf.subarray(r.pos, end)].join('.') };
      break;
    case RR_TYPE.AAAA:
      if (len === 16) {
        const g: string[] = [];
        for (let i = 0; i < 8; i++) g.push(r.buf.readUInt16BE(r.pos + i * 2).toString(16));
        rec = { type: 'AAAA', name, ttl, data: g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::') };
      }
      break;
    case RR_TYPE.PTR:
      rec = { type: 'PTR', name, ttl, data: sub.name() };
      break;
    case RR_TYPE.SRV: {
      const priority = sub.u16();
      const weight = sub.u16();
      const port = sub.u16();
      rec = { type: 'SRV', name, ttl, data: { priority, weight, port, target: sub.name() } };
      break;
    }
    case RR_TYPE.TXT: {
      const parts: Buffer[] = [];
      while (sub.pos < end) {
        const n = sub.u8();
        if (sub.pos + n > end) throw new RangeError('bad TXT');
        parts.push(Buffer.from(r.buf.subarray(sub.pos, sub.pos + n)));
        sub.pos += n;
      }
      rec = { type: 'TXT', name, ttl, data: parts };
      break;
    }
  }
  r.pos = end;
  return rec;
}

/** Decodes a packet; `undefined` when it is malformed (never throws). */
export function decodePacket(buf: Buffer): Packet | undefined {
  try {
    const r = new Reader(buf);
    const id = r.u16();
    const flags = r.u16();
    const qd = r.u16();
    const an = r.u16();
    const ns = r.u16();
    const ar = r.u16();
    if (qd + an + ns + ar > MAX_RECORDS) return undefined;
    const questions: Question[] = [];
    for (let i = 0; i < qd; i++) {
      const name = r.name();
      const t = r.u16();
      const cls = r.u16();
      const type = (Object.keys(RR_TYPE) as RecordTypeName[]).find((k) => RR_TYPE[k] === t);
      if (type) questions.push({ name, type, unicastResponse: (cls & 0x8000) !== 0 });
    }
    const section = (n: number) => {
      const out: DnsRecord[] = [];
      for (let i = 0; i < n; i++) {
        const rec = readRecord(r);
        if (rec) out.push(rec);
      }
      return out;
    };
    const answers = section(an);
    section(ns);
    const additionals = section(ar);
    return { id, response: (flags & 0x8000) !== 0, questions, answers, additionals };
  } catch {
    return undefined;
  }
}
