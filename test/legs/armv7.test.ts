// The native suite with the armv7 prebuild: see runLeg() in test/support/cross.ts.
import t from 'tap';
import { legs, runLeg } from '../support/cross.js';

await runLeg(t, legs.armv7());
