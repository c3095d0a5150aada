// Loaded by tap into every test file (package.json "tap"."node-arg"), after tap's own hooks.
//
// tap (@tapjs/processinfo, which tracks processes for coverage) hands its module hooks down to
// every process a test starts: through NODE_OPTIONS, and through a listener on every spawn that
// puts them back. Coverage is off in this suite, and the processes a test starts (serve, the CLI,
// the agent) should run as a user runs them, without hooks that double their start-up time.
// So both are undone here; anything else in NODE_OPTIONS is kept.
const opts = process.env.NODE_OPTIONS;
if (opts !== undefined) {
  const kept = opts
    .split(/\s+/)
    .filter((o) => o !== '' && !o.includes('@tapjs/'))
    .join(' ');
  if (kept === '') delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = kept;
}
// process-on-spawn keeps its listeners in one process-wide record under this symbol.
const spawnHooks = globalThis[Symbol.for('process-on-spawn@*:singletonId')];
if (spawnHooks && Array.isArray(spawnHooks.listeners)) spawnHooks.listeners.length = 0;
