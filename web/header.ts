/**
 * The 40-pin header as it is on every Raspberry Pi since the B+ (physical pins 1-40: odd numbers
 * in the column nearer the board's edge, even numbers beside them), with each GPIO's best-known
 * alternate function (ALT0 unless named otherwise) for the label shown when that function is in use.
 */
export type PinKind = '3v3' | '5v' | 'gnd' | 'gpio';

export interface HeaderPin {
  physical: number;
  kind: PinKind;
  /** BCM GPIO number for kind 'gpio'. */
  gpio?: number;
  /** Alternate functions the pin is known for (I2C, UART, SPI, PWM, clock, HAT EEPROM). */
  alt?: string;
}

const P = (physical: number, kind: PinKind, gpio?: number, alt?: string): HeaderPin => ({
  physical,
  kind,
  ...(gpio !== undefined ? { gpio } : {}),
  ...(alt ? { alt } : {}),
});

export const HEADER: HeaderPin[] = [
  P(1, '3v3'),
  P(2, '5v'),
  P(3, 'gpio', 2, 'SDA1'),
  P(4, '5v'),
  P(5, 'gpio', 3, 'SCL1'),
  P(6, 'gnd'),
  P(7, 'gpio', 4, 'GPCLK0'),
  P(8, 'gpio', 14, 'TXD0'),
  P(9, 'gnd'),
  P(10, 'gpio', 15, 'RXD0'),
  P(11, 'gpio', 17),
  P(12, 'gpio', 18, 'PWM0'),
  P(13, 'gpio', 27),
  P(14, 'gnd'),
  P(15, 'gpio', 22),
  P(16, 'gpio', 23),
  P(17, '3v3'),
  P(18, 'gpio', 24),
  P(19, 'gpio', 10, 'MOSI0'),
  P(20, 'gnd'),
  P(21, 'gpio', 9, 'MISO0'),
  P(22, 'gpio', 25),
  P(23, 'gpio', 11, 'SCLK0'),
  P(24, 'gpio', 8, 'CE0'),
  P(25, 'gnd'),
  P(26, 'gpio', 7, 'CE1'),
  P(27, 'gpio', 0, 'ID_SD'),
  P(28, 'gpio', 1, 'ID_SC'),
  P(29, 'gpio', 5),
  P(30, 'gnd'),
  P(31, 'gpio', 6),
  P(32, 'gpio', 12, 'PWM0'),
  P(33, 'gpio', 13, 'PWM1'),
  P(34, 'gnd'),
  P(35, 'gpio', 19, 'PWM1'),
  P(36, 'gpio', 16),
  P(37, 'gpio', 26),
  P(38, 'gpio', 20),
  P(39, 'gnd'),
  P(40, 'gpio', 21),
];

/** Hardware PWM pins of the header (GPIO12, 13, 18, 19 on every Pi). */
export const HW_PWM_PINS = new Set([12, 13, 18, 19]);

export const pinLabel = (p: HeaderPin): string =>
  p.kind === 'gpio' ? `GPIO${p.gpio}` : p.kind === '3v3' ? '3V3' : p.kind === '5v' ? '5V' : 'GND';
