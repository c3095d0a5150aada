import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFiles, crdFor, KINDS, toStructural } from '../../src/cluster/crds.js';
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

  t.test('every object in spec keeps unknown fields (for our validation to refuse them); status prunes', async (t) => {
    for (const hw of ['gpio', 'pwm', 'i2c'] as const) {
      const root = (crdFor(hw) as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Json; status: Json } } } }[] } })
        .spec.versions[0]!.schema.openAPIV3Schema.properties;
      t.equal(root.spec['x-kubernetes-preserve-unknown-fields'], true, `${hw}/spec`);
      for (const [path, f] of fields(root.spec, '/spec')) {
        if (f.type === 'object') t.equal(f['x-kubernetes-preserve-unknown-fields'], true, `${hw}${path}`);
        const items = f.items as Json | undefined;
        if (items?.type === 'object') t.equal(items['x-kubernetes-preserve-unknown-fields'], true, `${hw}${path}[]`);
      }
      t.equal(root.status['x-kubernetes-preserve-unknown-fields'], undefined, `${hw}/status prunes`);
    }
  });

  t.test('a field without a description stops generation with its path', async (t) => {
    t.throws(() => toStructural(Type.Object({ mystery: Type.Integer() }), '/spec'), /\/spec\/mystery has no description/);
  });

  t.test('the spec is the REST spec plus nodeName', async (t) => {
    const spec = (crdFor('gpio') as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Json } } } }[] } }).spec
      .versions[0]!.schema.openAPIV3Schema.properties.spec;
    t.same(spec.required, ['nodeName', 'pin', 'mode']);
    t.match(spec.properties, { pin: { type: 'integer', minimum: 0, maximum: 53 }, mode: { enum: ['input', 'output'] } });
    const pwm = (crdFor('pwm') as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Json } } } } }[] } })
      .spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
    t.match(pwm.frequencyHz, { minimum: 0, exclusiveMinimum: true });
  });
});
