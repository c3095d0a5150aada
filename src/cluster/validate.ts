/**
 * Validation of a custom resource's spec in our own code. The CRD schema already refuses most
 * bad objects at the API server, but kube-apiserver 1.20 has no CEL rules, a schema cannot say
 * "only for outputs", and a CRD installed by an older release may be looser: so every object is
 * checked again here, with the same TypeBox schema plus the rules between fields. An object
 * that fails lands with Ready=False, reason InvalidSpec, and changes nothing on the node.
 */
import type { Problem } from '../api/errors.js';
import type { HwKind, HwSpecs } from '../api/hardware.js';
import { DECODERS, PWM_PINS, RESERVED_PINS, SOC_PIN_COUNT, pwmFamilyOf, socFamily } from '../api/soc.js';
import { type Validator } from '../api/validate.js';
import { KINDS } from './crds.js';

/** Decoders the agent knows by name (src/hw/devices). */
export const KNOWN_DECODERS: readonly string[] = Object.keys(DECODERS);

const hex = (n: number) => `0x${n.toString(16)}`;

export interface ValidSpec<K extends HwKind> {
  nodeName: string;
  spec: HwSpecs[K];
}

/** Rules between fields that a structural schema cannot express. */
function crossField(hw: HwKind, s: Record<string, unknown>): Problem[] {
  const p: Problem[] = [];
  const add = (path: string, code: string, message: string) => p.push({ path: `/spec${path}`, code, message });
  if (hw === 'gpio') {
    if (s.mode === 'input' && s.value !== undefined)
      add('/value', 'input-has-value', 'value is only meaningful for an output (mode: output)');
    if (s.mode === 'output' && s.edge !== undefined && s.edge !== 'none')
      add('/edge', 'output-has-edge', 'edge detection is for inputs (mode: input)');
    if (s.mode === 'output' && s.debounceMicros !== undefined)
      add('/debounceMicros', 'output-has-debounce', 'debounce is for inputs (mode: input)');
    if (s.debounceMicros !== undefined && (s.edge === undefined || s.edge === 'none'))
      add('/debounceMicros', 'debounce-without-edge', 'debounce needs edge detection (edge: rising, falling or both)');
  } else if (hw === 'pwm') {
    if (s.implementation === 'software' && typeof s.frequencyHz === 'number' && s.frequencyHz > 100_000) {
      add('/frequencyHz', 'software-too-fast', 'software PWM is limited to 100 kHz; use implementation: hardware on a PWM-capable pin');
    }
  } else {
    const regs = Array.isArray(s.registers) ? (s.registers as Record<string, unknown>[]) : [];
    if (s.decoder === undefined && regs.length === 0) add('', 'nothing-to-read', 'give a decoder or at least one register to read');
    if (typeof s.decoder === 'string' && !KNOWN_DECODERS.includes(s.decoder)) {
      add('/decoder', 'unknown-decoder', `unknown decoder ${JSON.stringify(s.decoder)}; known: ${KNOWN_DECODERS.join(', ')}`);
    } else if (typeof s.decoder === 'string' && typeof s.address === 'number' && !DECODERS[s.decoder]!.addresses.includes(s.address)) {
      const at = DECODERS[s.decoder]!.addresses.map(hex).join(', ');
      add('/address', 'decoder-address', `a ${s.decoder} answers at ${at}, not ${hex(s.address)}`);
    }
    const names = new Set<string>();
    regs.forEach((r, i) => {
      if (r.type === 'bytes' && r.length === undefined) add(`/registers/${i}/length`, 'bytes-without-length', 'type bytes needs a length');
      if (r.type !== 'bytes' && r.length !== undefined)
        add(`/registers/${i}/length`, 'length-without-bytes', 'length is only for type bytes');
      if (typeof r.name === 'string') {
        if (names.has(r.name)) add(`/registers/${i}/name`, 'duplicate-name', `register name ${JSON.stringify(r.name)} is used twice`);
        names.add(r.name);
      }
    });
  }
  return p;
}

/**
 * Checks a custom resource's `spec`: the CRD's own schema (the REST spec plus nodeName), then
 * the cross-field rules. Returns the node name and the REST spec, or every problem found.
 */
export function checkSpec<K extends HwKind>(
  v: Validator,
  hw: K,
  spec: unknown,
): { ok: true; value: ValidSpec<K> } | { ok: false; problems: Problem[] } {
  const problems = v.problems(KINDS[hw].spec, spec, '/spec');
  if (problems.length) return { ok: false, problems };
  const { nodeName, ...rest } = spec as Record<string, unknown> & { nodeName: string };
  const more = crossField(hw, rest);
  if (more.length) return { ok: false, problems: more };
  return { ok: true, value: { nodeName, spec: rest as unknown as HwSpecs[K] } };
}

/** One line for a condition message: the first few problems with their paths. */
export function describeProblems(problems: Problem[], max = 5): string {
  const shown = problems.slice(0, max).map((p) => `${p.path}: ${p.message}`);
  if (problems.length > max) shown.push(`and ${problems.length - max} more`);
  return shown.join('; ');
}

/** Why a valid spec cannot be applied on its node: the reason the agent would give, found first. */
export interface NodeRefusal {
  reason: 'PinReserved' | 'PinOutOfRange' | 'NoHardwarePwm';
  message: string;
}

/**
 * The checks the agent makes that depend only on the node's SoC (its stored `soc` label), made
 * before anything is stored or sent: reserved pins (GPIO0/1), pins the SoC lacks, and
 * `implementation: hardware` on a pin with no PWM channel. With no (known) `soc` label, pins are
 * checked against the schema's range and a hardware PWM pin must have a channel on some SoC.
 */
export function checkOnNode<K extends HwKind>(hw: K, spec: HwSpecs[K], socLabel: string | undefined): NodeRefusal | null {
  if (hw === 'i2c') return null;
  const { pin } = spec as HwSpecs['gpio' | 'pwm'];
  if (RESERVED_PINS.has(pin)) return { reason: 'PinReserved', message: `GPIO${pin} is reserved (HAT ID EEPROM bus)` };
  const soc = socFamily(socLabel);
  if (soc && pin >= SOC_PIN_COUNT[soc]) return { reason: 'PinOutOfRange', message: `${soc} has GPIO 0-${SOC_PIN_COUNT[soc] - 1}` };
  if (hw === 'pwm' && (spec as HwSpecs['pwm']).implementation === 'hardware') {
    const families = soc ? [pwmFamilyOf(soc)] : (Object.keys(PWM_PINS) as (keyof typeof PWM_PINS)[]);
    if (!families.some((f) => PWM_PINS[f][pin] !== undefined)) {
      const pins = soc ? Object.keys(PWM_PINS[pwmFamilyOf(soc)]).join(', ') : '';
      return {
        reason: 'NoHardwarePwm',
        message: soc
          ? `GPIO${pin} has no hardware PWM on ${soc} (PWM pins: ${pins}); use implementation software or auto`
          : `GPIO${pin} has no hardware PWM on any Raspberry Pi SoC; use implementation software or auto`,
      };
    }
  }
  return null;
}
