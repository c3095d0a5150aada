/**
 * Facts about each SoC's pins and the I2C chips we decode, as plain data: which GPIOs exist,
 * which are reserved, which carry a hardware PWM channel, at which addresses a decoded chip
 * answers. The agent (which enforces them on the node) and the control plane (which checks a
 * custom resource against its node's SoC before anything is sent) read the same tables. This
 * module imports nothing, so the control plane can use it without loading the addon.
 */

/** SoC families (the Pi 5's SoC is the BCM2712; its GPIO, PWM and I2C are in the RP1). */
export const SOC_NAMES = ['bcm2835', 'bcm2836', 'bcm2837', 'bcm2711', 'rp1'] as const;
export type SocFamilyName = (typeof SOC_NAMES)[number];

/** GPIOs per SoC: BCM2835-2837 and RP1 have 0-53, BCM2711 0-57 (README, "Supported boards"). */
export const SOC_PIN_COUNT: Readonly<Record<SocFamilyName, number>> = {
  bcm2835: 54,
  bcm2836: 54,
  bcm2837: 54,
  bcm2711: 58,
  rp1: 54,
};

/** GPIO0/1 carry the HAT ID EEPROM bus (ID_SD/ID_SC) and are never driven by the agent. */
export const RESERVED_PINS: ReadonlySet<number> = new Set([0, 1]);

/** PWM pins per PWM block family: GPIO → channel label. BCM2836/2837 have the BCM2835's block. */
export const PWM_PINS: Record<'bcm2835' | 'bcm2711' | 'rp1', Record<number, string>> = {
  bcm2835: {
    12: 'PWM0_0 (ALT0)',
    13: 'PWM0_1 (ALT0)',
    18: 'PWM0_0 (ALT5)',
    19: 'PWM0_1 (ALT5)',
    40: 'PWM0_0 (ALT0)',
    41: 'PWM0_1 (ALT0)',
    45: 'PWM0_1 (ALT0)',
  },
  bcm2711: { 12: 'PWM0_0 (ALT0)', 13: 'PWM0_1 (ALT0)', 18: 'PWM0_0 (ALT5)', 19: 'PWM0_1 (ALT5)', 40: 'PWM1_0 (ALT0)', 41: 'PWM1_1 (ALT0)' },
  rp1: { 12: 'PWM0 ch0 (a0)', 13: 'PWM0 ch1 (a0)', 14: 'PWM0 ch2 (a0)', 15: 'PWM0 ch3 (a0)', 18: 'PWM0 ch2 (a3)', 19: 'PWM0 ch3 (a3)' },
};

/** The PWM block family of a SoC (the key of {@link PWM_PINS}). */
export function pwmFamilyOf(soc: SocFamilyName): keyof typeof PWM_PINS {
  return soc === 'bcm2711' ? 'bcm2711' : soc === 'rp1' ? 'rp1' : 'bcm2835';
}

/** Decoders the agent knows, with the 7-bit addresses each chip can have. */
export const DECODERS: Readonly<Record<string, { addresses: number[] }>> = {
  bme280: { addresses: [0x76, 0x77] },
  ads1115: { addresses: [0x48, 0x49, 0x4a, 0x4b] },
};

/**
 * The SoC family a node label names (`soc=bcm2711`, `BCM2712`, `rp1`, ...), or undefined when
 * the label is absent or names none we know.
 */
export function socFamily(label: string | undefined): SocFamilyName | undefined {
  const s = (label ?? '').trim().toLowerCase();
  if (s === 'bcm2712') return 'rp1';
  return (SOC_NAMES as readonly string[]).includes(s) ? (s as SocFamilyName) : undefined;
}
