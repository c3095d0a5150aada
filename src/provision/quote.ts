/**
 * Shell quoting for every command the provisioner sends. A remote command over SSH is one string
 * that the login shell parses, so every value that is not a fixed word of our own (host names,
 * users, paths, versions, anything read from a host or typed by a user) goes through `shq`, and
 * commands are built from argv arrays with `cmd`, never by pasting strings together.
 *
 * `shq` uses POSIX single quotes: inside them no character is special (no `$`, backtick, `\`,
 * glob, `;`, `|` or newline), and a single quote itself is written as `'\''`. The only value a
 * shell word cannot carry is a NUL byte, which is refused.
 */
import { ProvisionError } from './errors.js';

/** A string known to be shell syntax we wrote (an operator such as `&&`, `|` or `>`), passed through as is. */
export class Raw {
  constructor(readonly text: string) {}
}

/** Marks fixed shell syntax of our own; never pass a value that came from outside. */
export const raw = (text: string): Raw => new Raw(text);

/** One shell word holding exactly `value`. */
export function shq(value: string | number): string {
  const s = String(value);
  if (s.includes('\0')) throw new ProvisionError('INVALID_ARGUMENT', 'a shell word cannot contain a NUL byte');
  // Words made only of characters no shell treats specially stay readable in the logs.
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line from argv: every element quoted, except {@link Raw} syntax of our own. */
export function cmd(...argv: (string | number | Raw)[]): string {
  return argv.map((a) => (a instanceof Raw ? a.text : shq(a))).join(' ');
}

/** `sh -c <script>` where the script is itself quoted: for running a composed command under sudo. */
export function shC(script: string): string {
  return cmd('sh', '-c', script);
}
