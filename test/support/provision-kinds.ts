/**
 * A job kind for the runner's tests, on a lab host: three steps that make files in `dir` (a path
 * the test can see too), each idempotent, the middle one slow. Every run of a step appends a line to
 * `dir/runs`, so a test can tell which steps ran and how often.
 */
import type { JobDefinition, Step } from '../../src/provision/jobs.js';
import { cmd, raw } from '../../src/provision/quote.js';

export const FILES_KIND = 'test.files';

export function filesKind(): JobDefinition {
  return {
    kind: FILES_KIND,
    steps: (p) => {
      const dir = String(p.dir);
      const slow = Number(p.slowSeconds ?? 0);
      const make = (name: string, seconds: number): Step => ({
        name,
        check: async (ctx) => (await ctx.exec(cmd('test', '-e', `${dir}/${name}`))).code === 0,
        run: async (ctx) => {
          await ctx.run(`${cmd('echo', name)} >> ${cmd(`${dir}/runs`)}`);
          if (seconds > 0) await ctx.run(cmd('sleep', seconds), { timeoutMs: (seconds + 30) * 1000 });
          await ctx.run(cmd('touch', '--', `${dir}/${name}`, raw('&&'), 'echo', `made ${name}`));
        },
      });
      return [make('first', 0), make('slow', slow), make('last', 0)];
    },
  };
}
