/**
 * The status a custom resource is given (src/cluster/status.ts), computed without an API
 * server: each Ready reason, generation handling, transition times, and the fields shown from
 * the agent's report.
 */
import t from 'tap';
import type { HwKind, HwObject, HwStatus } from '../../src/api/hardware.js';
import { canonicalJson } from '../../src/store/hardware.js';
import { comparable, statusFor, type HwResource, type StatusInput } from '../../src/cluster/status.js';

const NOW = new Date('2026-03-01T10:00:00.123Z');

function resource(generation = 3, conditions?: HwResource['status']): HwResource {
  return {
    apiVersion: 'gpio.pi-controller.io/v1alpha1',
    kind: 'GPIOPin',
    metadata: { name: 'led', namespace: 'default', generation },
    spec: { nodeName: 'pi-one', pin: 17, mode: 'output', value: 1 },
    ...(conditions ? { status: conditions } : {}),
  };
}

function stored(generation: number, status: Partial<HwStatus>, kind: HwKind = 'gpio'): HwObject {
  return {
    id: 'o1',
    kind,
    name: 'k8s-default-led-000000000000',
    nodeId: 'n1',
    generation,
    spec: { pin: 17, mode: 'output', value: 1 },
    status: { phase: 'Pending', reason: '', observedGeneration: 0, updatedAt: null, ...status },
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  } as HwObject;
}

function input(over: Partial<StatusInput>): StatusInput {
  return { hw: 'gpio', obj: resource(), outcome: null, stored: undefined, connected: true, edges: 0, lastEdge: null, now: NOW, ...over };
}

/** The Ready condition of a computed status. */
function ready(s: Record<string, unknown>): { status: string; reason: string; message: string; lastTransitionTime: string } {
  return (s.conditions as { status: string; reason: string; message: string; lastTransitionTime: string }[])[0]!;
}

t.test('statusFor', async (t) => {
  t.test('sets Ready=False with the reconciler own reason when it refused the spec', async (t) => {
    const s = statusFor(input({ outcome: { phase: 'Failed', reason: 'InvalidSpec', message: '/spec/pin: must be <= 57' } }));
    t.match(s, { phase: 'Failed', observedGeneration: 3, message: '/spec/pin: must be <= 57' });
    t.match(ready(s), { status: 'False', reason: 'InvalidSpec', message: '/spec/pin: must be <= 57' });
    const busy = statusFor(input({ outcome: { phase: 'Failed', reason: 'PinBusy', message: 'pin 17 is held' }, stored: stored(3, {}) }));
    t.match(ready(busy), { reason: 'PinBusy' }, 'the outcome wins over what is stored');
    t.notOk('value' in busy, 'no actual fields beside a refusal');
  });

  t.test('sets Pending/NodeNotFound from the outcome', async (t) => {
    const s = statusFor(input({ outcome: { phase: 'Pending', reason: 'NodeNotFound', message: 'no node named "pi-x"' } }));
    t.match(s, { phase: 'Pending' });
    t.match(ready(s), { status: 'False', reason: 'NodeNotFound' });
  });

  t.test('sets Applying while nothing is stored', async (t) => {
    const s = statusFor(input({ stored: undefined }));
    t.match(s, { phase: 'Pending', message: 'waiting for the desired state to be stored' });
    t.match(ready(s), { status: 'False', reason: 'Applying' });
  });

  t.test('sets AgentOffline when the node agent is not connected, naming the node', async (t) => {
    const s = statusFor(input({ stored: stored(3, { phase: 'Applied', observedGeneration: 3 }), connected: false }));
    t.match(s, { phase: 'Pending' });
    t.match(ready(s), { status: 'False', reason: 'AgentOffline', message: /agent of node pi-one is not connected/ });
  });

  t.test('sets Applying while the agent has not reported on the stored generation', async (t) => {
    const older = statusFor(input({ stored: stored(4, { phase: 'Applied', observedGeneration: 3, actual: { value: 0 } }) }));
    t.match(ready(older), { reason: 'Applying', message: 'sent to the node; waiting for its report' });
    t.notOk('value' in older, "a report on an older generation is not shown as this one's actual state");
    const pending = statusFor(input({ stored: stored(4, { phase: 'Pending', observedGeneration: 4 }) }));
    t.match(ready(pending), { reason: 'Applying' });
  });

  t.test('sets Ready=True with reason Applied and shows what the agent reported', async (t) => {
    const s = statusFor(
      input({
        stored: stored(2, {
          phase: 'Applied',
          observedGeneration: 2,
          actual: { value: 1, level: 1, mode: 'output', pull: 'none', junk: 'x' },
          updatedAt: '2026-03-01T09:59:59.000Z',
        }),
      }),
    );
    t.same(s, {
      phase: 'Ready',
      observedGeneration: 3,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Applied',
          message: 'applied on the node',
          lastTransitionTime: '2026-03-01T10:00:00Z',
          observedGeneration: 3,
        },
      ],
      message: 'applied on the node',
      value: 1,
      level: 1,
      mode: 'output',
      pull: 'none',
      updatedAt: '2026-03-01T09:59:59.000Z',
    });
  });

  t.test('sets Failed with the agent reason and message, HardwareError when it gave none', async (t) => {
    const s = statusFor(
      input({
        stored: stored(3, { phase: 'Failed', reason: 'ChannelBusy', observedGeneration: 3, actual: { message: 'PWM0_0 is in use' } }),
      }),
    );
    t.match(s, { phase: 'Failed', message: 'PWM0_0 is in use' });
    t.match(ready(s), { status: 'False', reason: 'ChannelBusy' });
    const bare = statusFor(input({ stored: stored(3, { phase: 'Failed', reason: '', observedGeneration: 3 }) }));
    t.match(ready(bare), { reason: 'HardwareError', message: 'the node reported HardwareError' });
  });

  t.test('observedGeneration is the object generation (1 when it has none)', async (t) => {
    t.match(statusFor(input({ obj: resource(7) })), { observedGeneration: 7, conditions: [{ observedGeneration: 7 }] });
    const noGen = resource();
    delete noGen.metadata!.generation;
    t.match(statusFor(input({ obj: noGen })), { observedGeneration: 1 });
  });

  t.test('keeps lastTransitionTime while status and reason stay, stamps a change now', async (t) => {
    const before = '2026-02-01T00:00:00Z';
    const had = (reason: string, status: 'True' | 'False') =>
      resource(3, { conditions: [{ type: 'Ready', status, reason, message: '', lastTransitionTime: before }] });
    const applied = stored(3, { phase: 'Applied', observedGeneration: 3 });
    t.equal(ready(statusFor(input({ obj: had('Applied', 'True'), stored: applied }))).lastTransitionTime, before);
    t.equal(ready(statusFor(input({ obj: had('Applying', 'False'), stored: applied }))).lastTransitionTime, '2026-03-01T10:00:00Z');
    t.equal(
      ready(statusFor(input({ obj: had('AgentOffline', 'False'), stored: applied, connected: true }))).lastTransitionTime,
      '2026-03-01T10:00:00Z',
      'same status False, another reason: a transition',
    );
  });

  t.test('edge counts on a GPIO input, I2C readings and display columns, PWM achieved values', async (t) => {
    t.match(statusFor(input({ edges: 5, lastEdge: '2026-03-01T09:00:00.000Z' })), {
      edgeCount: 5,
      lastEdgeTime: '2026-03-01T09:00:00.000Z',
    });
    t.notOk('edgeCount' in statusFor(input({ edges: 0 })), 'no edge count before the first edge');
    const i2c = statusFor(
      input({
        hw: 'i2c',
        obj: { ...resource(), spec: { nodeName: 'pi-one', bus: 1, address: 0x76, decoder: 'bme280' } },
        stored: stored(
          3,
          { phase: 'Applied', observedGeneration: 3, actual: { readings: { tempC: 21.5 }, readAt: '2026-03-01T09:59:00Z' } },
          'i2c',
        ),
      }),
    );
    t.match(i2c, { readings: { tempC: 21.5 }, lastReadTime: '2026-03-01T09:59:00Z', addressHex: '0x76', lastReading: 'tempC=21.5' });
    const pwm = statusFor(
      input({
        hw: 'pwm',
        stored: stored(
          3,
          {
            phase: 'Applied',
            observedGeneration: 3,
            actual: { frequencyHz: 1000, dutyCycle: 0.5, implementation: 'hardware', channel: 'PWM0_0' },
          },
          'pwm',
        ),
      }),
    );
    t.match(pwm, { achievedFrequencyHz: 1000, achievedDutyCycle: 0.5, implementation: 'hardware', channel: 'PWM0_0' });
  });
});

t.test('comparable', async (t) => {
  t.test('ignores transition times and updatedAt; readings only when asked', async (t) => {
    const a = statusFor(input({ stored: stored(3, { phase: 'Applied', observedGeneration: 3, actual: { value: 1 } }) }));
    const b = { ...a, updatedAt: 'later', conditions: [{ ...ready(a), lastTransitionTime: 'other' }] };
    t.equal(comparable(a, canonicalJson), comparable(b, canonicalJson));
    const withEdges = { ...a, edgeCount: 9 };
    t.not(comparable(a, canonicalJson), comparable(withEdges, canonicalJson), 'an edge count is a change');
    t.equal(comparable(a, canonicalJson, false), comparable(withEdges, canonicalJson, false), '...but not a change of state');
  });
});
