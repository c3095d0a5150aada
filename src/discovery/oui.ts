/** MAC addresses: normalised form and the Raspberry Pi organisationally unique identifiers. */

/**
 * OUIs assigned to Raspberry Pi Trading / Raspberry Pi Ltd (IEEE registry): B8:27:EB (Pi 1-3),
 * DC:A6:32 and E4:5F:01 (Pi 4, 400), D8:3A:DD and 2C:CF:67 (Pi 5, CM5, 500), 28:CD:C1 (Pi Zero 2 W, Pico W).
 */
export const RASPBERRY_PI_OUIS: readonly string[] = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '2c:cf:67', '28:cd:c1'];

/** `DC-A6-32-01-02-03`, `dca6.3201.0203` or `dc:a6:32:1:2:3` to `dc:a6:32:01:02:03`; undefined if not a MAC. */
export function normalizeMac(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  let parts: string[];
  if (/^([0-9a-f]{1,2}[:-]){5}[0-9a-f]{1,2}$/.test(t)) parts = t.split(/[:-]/).map((p) => p.padStart(2, '0'));
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(t) || /^[0-9a-f]{12}$/.test(t)) parts = t.replace(/\./g, '').match(/../g)!;
  else return undefined;
  const mac = parts.join(':');
  return mac === '00:00:00:00:00:00' ? undefined : mac;
}

/** Whether a (normalised or not) MAC carries a Raspberry Pi OUI. */
export function isRaspberryPiMac(mac: string): boolean {
  const m = normalizeMac(mac);
  return m !== undefined && RASPBERRY_PI_OUIS.includes(m.slice(0, 8));
}
