/**
 * The last log lines of a process, kept in memory for whoever asks (the agent returns its own
 * over the link): bounded by a line count and a byte total, each line numbered so a reader can
 * ask for what came after the last line it saw. `tee` puts it between pino and its destination.
 */
import type { DestinationStream } from 'pino';

export interface RingLine {
  seq: number;
  line: string;
}

/** Longest line kept (a longer one is cut and marked). */
export const RING_LINE_MAX = 8192;

export class LogRing {
  readonly #maxLines: number;
  readonly #maxBytes: number;
  readonly #lines: RingLine[] = [];
  #bytes = 0;
  #seq = 0;

  constructor(opts: { maxLines?: number; maxBytes?: number } = {}) {
    this.#maxLines = opts.maxLines ?? 1000;
    this.#maxBytes = opts.maxBytes ?? 256 * 1024;
  }

  push(text: string): void {
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      const line = raw.length > RING_LINE_MAX ? `${raw.slice(0, RING_LINE_MAX - 3)}...` : raw;
      this.#lines.push({ seq: ++this.#seq, line });
      this.#bytes += line.length;
      while (this.#lines.length > this.#maxLines || this.#bytes > this.#maxBytes) this.#bytes -= this.#lines.shift()!.line.length;
    }
  }

  /** Up to `limit` lines after `after` (oldest first); `first` is the oldest line still kept (0: none yet). */
  since(after: number, limit: number): { lines: RingLine[]; first: number; last: number } {
    const lines = this.#lines.filter((l) => l.seq > after).slice(0, limit);
    return { lines, first: this.#lines[0]?.seq ?? 0, last: this.#seq };
  }

  /** A destination that keeps every line here and writes it on to `dest`. */
  tee(dest: DestinationStream): DestinationStream {
    return {
      write: (msg: string) => {
        this.push(msg);
        return dest.write(msg);
      },
    };
  }
}
