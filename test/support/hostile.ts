/** Hostile values for quoting tests (src/provision/quote.ts). */

/** Values full of shell syntax; each would create `marker` if a shell ever evaluated it. */
export function hostile(marker: string): string[] {
  return [
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `a; touch ${marker}`,
    `a | touch ${marker}`,
    `a && touch ${marker}`,
    `a\ntouch ${marker}`,
    `'; touch ${marker}; '`,
    `"; touch ${marker}; "`,
    `\\'$(touch ${marker})`,
    `it's "quoted" \\ back`,
    '*',
    '~/x?[ab]*',
    '-rf',
    '$HOME ${PATH} $1',
    'v1.30.4+k3s1',
    '',
    ' lead and trail ',
    'tab\there',
    'ünïcødé-π',
    '>out <in 2>&1',
    '#comment',
    '!event',
  ];
}
