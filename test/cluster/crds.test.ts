import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFiles, crdFor, droppedFields, i2cDisplay, KINDS, toStructural, withFacts } from '../../src/cluster/crds.js';
import { staleCrds } from '../../src/cluster/crd-gen.js';
import { repoRoot } from '../support/paths.js';
import { Type } from '@sinclair/typebox';

type Json = Record<string, unknown>;

/** Every property schema under `s`, with its path. */
function* fields(s: Json, path = ''): Generator<[string, Json]> {
  for (const [name, sub] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
    yield [`${path}/${name}`, sub];
    yield* fields(sub, `${path}/${name}`);
    if (sub.items) yield* fields(sub.items as Json, `${path}/${name}[]`);
  }
}

t.test('CRD generation', async (t) => {
  t.test('crds/*.yaml is exactly what the generator writes from src/api', async (t) => {
    t.same(staleCrds(join(repoRoot(), 'crds')), [], 'run npm run gen:crds after changing the schemas');
    for (const { file, text } of crdFiles()) t.equal(readFileSync(join(repoRoot(), 'crds', file), 'utf8'), text, file);
  });

  t.test('each kind: group, version, namespaced, status subresource, columns, short names', async (t) => {
    for (const hw of ['gpio', 'pwm', 'i2c'] as const) {
      const crd = parse(readFileSync(join(repoRoot(), 'crds', `${KINDS[hw].plural}.yaml`), 'utf8')) as Json;
      t.match(crd, {
        apiVersion: 'apiextensions.k8s.io/v1',
        spec: { group: 'gpio.pi-controller.io', scope: 'Namespaced', names: { kind: KINDS[hw].kind, shortNames: KINDS[hw].shortNames } },
      });
      const v = (crd.spec as { versions: Json[] }).versions[0]!;
      t.equal(v.name, 'v1alpha1');
      t.same(v.subresources, { status: {} });
      const cols = (v.additionalPrinterColumns as { name: string }[]).map((c) => c.name);
      t.ok(cols.includes('Node') && cols.includes('Phase') && cols.includes('Age'), `${hw} columns ${cols.join(',')}`);
    }
  });

  t.test('every spec and status field has a description, and no structural-schema violations remain', async (t) => {
    for (const hw of ['gpio', 'pwm', 'i2c'] as const) {
      const root = (crdFor(hw) as { spec: { versions: { schema: { openAPIV3Schema: Json } }[] } }).spec.versions[0]!.schema.openAPIV3Schema;
      let n = 0;
      for (const [path, f] of fields(root)) {
        if (path === '/metadata') continue;
        n++;
        t.type(f.description, 'string', `${hw}${path} has a description`);
        t.notOk(f.additionalProperties === false, `${hw}${path}: no additionalProperties false`);
        t.notOk(typeof f.exclusiveMinimum === 'number', `${hw}${path}: boolean exclusiveMinimum`);
      }
      t.ok(n > 10, `${hw}: ${n} fields checked`);
    }
  });

  t.test('fields kubectl apply sent that the schema lacks are found in last-applied-configuration, while it is current', async (t) => {
    const obj = (applied: unknown, spec: Record<string, unknown>) => ({
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: applied }) } },
      spec,
    });
    const now = { nodeName: 'pi', pin: 4, mode: 'output', pull: 'none' };
    const typo = { nodeName: 'pi', pin: 4, mode: 'output', valu: 1 };
    t.same(
      droppedFields('gpio', obj(typo, now)).map((p) => [p.path, p.code]),
      [['/spec/valu', 'unknown-field']],
    );
    t.match(droppedFields('gpio', obj(typo, now))[0]!.message, /unknown field "valu"/);
    t.same(droppedFields('gpio', obj(typo, { ...now, pin: 5 })), [], 'stale: the object changed since');
    t.same(droppedFields('gpio', obj({ nodeName: 'pi', pin: 4, mode: 'output' }, now)), [], 'nothing unknown');
    t.same(droppedFields('gpio', { spec: now }), [], 'no annotation');
    const reg = { name: 'r', register: 0, type: 'u8', pollIntervalMs: 100 };
    const i2c = { nodeName: 'pi', bus: 1, address: 72 };
    t.same(
      droppedFields('i2c', obj({ ...i2c, registers: [{ ...reg, sclae: 2 }] }, { ...i2c, registers: [reg] })).map((p) => p.path),
      ['/spec/registers/0/sclae'],
      'inside array items too',
    );
  });

  t.test(
    'every spec field describes its allowed values, range and default in words (kubectl explain shows only descriptions)',
    async (t) => {
      for (const hw of ['gpio', 'pwm', 'i2c'] as const) {
        const spec = (crdFor(hw) as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Json } } } }[] } }).spec
          .versions[0]!.schema.openAPIV3Schema.properties.spec;
        for (const [path, f] of fields(spec, '/spec')) {
          const d = String(f.description);
          if (Array.isArray(f.enum)) for (const v of f.enum) t.ok(d.includes(String(v)), `${hw}${path}: names ${String(v)}`);
          if (typeof f.minimum === 'number') t.ok(d.includes(String(f.minimum)), `${hw}${path}: minimum ${f.minimum}`);
          if (typeof f.maximum === 'number') t.ok(d.includes(String(f.maximum)), `${hw}${path}: maximum ${f.maximum}`);
          if (f.default !== undefined) t.ok(d.includes(`Default: ${String(f.default)}.`), `${hw}${path}: default ${String(f.default)}`);
        }
      }
      const gpio = (
        crdFor('gpio') as {
          spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, Json> } } } } }[] };
        }
      ).spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
      t.match(gpio.value!.description, /only for outputs/);
      t.match(gpio.edge!.description, /only for inputs/);
      t.match(gpio.debounceMicros!.description, /in microseconds.*Range: 0 to 1000000\./);
      t.match(gpio.releasePolicy!.description, /leave \(the default\)/);
      t.equal(withFacts({ description: 'f', minimum: 0, exclusiveMinimum: true, maximum: 5 }), 'f. Range: greater than 0, at most 5.');
    },
  );

  t.test('printer columns: Reason without -o wide; PWM implementation and channel; I2C address in hex and the last reading', async (t) => {
    const cols = (hw: 'gpio' | 'pwm' | 'i2c') => KINDS[hw].columns;
    for (const hw of ['gpio', 'pwm', 'i2c'] as const) {
      const reason = cols(hw).find((c) => c.name === 'Reason');
      t.ok(reason && reason.priority === undefined, `${hw}: Reason is a default column`);
    }
    t.match(
      cols('pwm').map((c) => [c.name, c.jsonPath]),
      [
        ['Node', '.spec.nodeName'],
        ['Pin', '.spec.pin'],
        ['Implementation', '.status.implementation'],
        ['Channel', '.status.channel'],
        ['Frequency', '.status.achievedFrequencyHz'],
        ['Duty', '.status.achievedDutyCycle'],
        ['Phase', '.status.phase'],
        ['Reason', /Ready/],
        ['Age', '.metadata.creationTimestamp'],
      ],
    );
    t.match(
      cols('i2c').map((c) => c.name),
      ['Node', 'Bus', 'Address', 'Decoder', 'Reading', 'Phase', 'Reason', 'Age'],
    );
    t.same(i2cDisplay({ address: 0x4 }, undefined), { addressHex: '0x04' });
    t.same(i2cDisplay({ address: 0x76 }, { temperatureC: 21.531249, pressureHPa: 1013.25, raw: [1, 2] }), {
      addressHex: '0x76',
      lastReading: 'temperatureC=21.5312 pressureHPa=1013.25 raw=[1,2]',
    });
    t.equal(i2cDisplay(undefined, { v: 'x'.repeat(300) }).lastReading!.length, 200, 'a long line is cut at 200 characters');
  });

  t.test('a field without a description stops generation with its path', async (t) => {
    t.throws(() => toStructural(Type.Object({ mystery: Type.Integer() }), '/spec'), /\/spec\/mystery has no description/);
  });

  t.test('the spec is the REST spec plus nodeName', async (t) => {
    const spec = (crdFor('gpio') as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Json } } } }[] } }).spec
      .versions[0]!.schema.openAPIV3Schema.properties.spec;
    t.same(spec.required, ['nodeName', 'pin', 'mode']);
    t.match(spec.properties, { pin: { type: 'integer', minimum: 0, maximum: 57 }, mode: { enum: ['input', 'output'] } });
    const pwm = (crdFor('pwm') as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Json } } } } }[] } })
      .spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
    t.match(pwm.frequencyHz, { minimum: 0, exclusiveMinimum: true });
  });
});
