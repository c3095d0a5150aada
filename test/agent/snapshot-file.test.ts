import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotFile } from '../../agent/snapshot-file.js';
import { tempDir } from '../support/tmp.js';

t.test('SnapshotFile', async (t) => {
  t.test('keeps the newest snapshot across two slots, written in place', async (t) => {
    const dir = tempDir(t, 'pic-snap-');
    const f = new SnapshotFile(dir, 'desired.json');
    t.equal(f.load(), undefined, 'nothing kept yet');
    f.save('{"seq":1,"items":["a long first snapshot"]}');
    f.save('{"seq":2}');
    f.save('{"seq":3}');
    f.close();
    t.equal(new SnapshotFile(dir, 'desired.json').load(), '{"seq":3}', 'a new reader finds the last write');
    t.equal(statSync(join(dir, 'desired.json.1')).mode & 0o777, 0o600);
    t.ok(
      readFileSync(join(dir, 'desired.json.1'), 'utf8').includes('a long first snapshot'.slice(-8)),
      'a shorter write leaves the old tail, which is ignored',
    );
  });

  t.test('a write cut short falls back to the previous snapshot', async (t) => {
    const dir = tempDir(t, 'pic-snap-');
    const f = new SnapshotFile(dir, 'desired.json');
    f.save('{"seq":1}');
    f.save('{"seq":2}');
    f.close();
    // The newest write (slot 0, count 2) loses its last bytes, as a crash mid-write would leave it.
    const slot = join(dir, 'desired.json.0');
    const bytes = readFileSync(slot);
    writeFileSync(slot, bytes.subarray(0, bytes.length - 3));
    const g = new SnapshotFile(dir, 'desired.json');
    t.equal(g.load(), '{"seq":1}');
    g.save('{"seq":3}');
    g.close();
    t.equal(new SnapshotFile(dir, 'desired.json').load(), '{"seq":3}', 'writing goes on after the torn slot');
  });

  t.test('reads the legacy single file when no slot is valid', async (t) => {
    const dir = tempDir(t, 'pic-snap-');
    writeFileSync(join(dir, 'desired.json'), '{"seq":7}');
    writeFileSync(join(dir, 'desired.json.0'), 'not a slot');
    t.equal(new SnapshotFile(dir, 'desired.json').load(), '{"seq":7}');
  });
});
