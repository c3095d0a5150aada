#!/usr/bin/env node
'use strict';
// npm "install" hook: use a prebuilt binary when one fits, otherwise build from source.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
let found = false;
try {
  require('node-gyp-build').path(root);
  found = true;
} catch {
  found = false;
}
if (found) process.exit(0);
const r = spawnSync(process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp', ['rebuild'], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
