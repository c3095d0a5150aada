/** Human output: aligned tables; `--json` output is written as is. */

/** Renders rows as an aligned table with a header line. */
export function table(columns: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [columns, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** "key: value" lines for one object. */
export function details(obj: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  return (
    Object.entries(obj)
      .map(([k, v]) => `${k.padEnd(width)}  ${v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join('\n') + '\n'
  );
}

/**
 * Makes text from the network inert on a terminal: control characters (C0, DEL, C1, which carry
 * escape sequences) become `\xNN`, and a backslash is doubled so the escaping cannot be forged.
 */
export function inert(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** JSON for a terminal or a pipe: as JSON.stringify, with DEL and C1 controls (left raw by JSON) escaped too. */
export function inertJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
