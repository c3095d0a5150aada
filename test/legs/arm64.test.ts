// The native suite with the arm64 prebuild: see runLeg() in test/support/cross.ts.
import t from 'tap';
import { legs, runLeg } from '../support/cross.js';

await runLeg(t, legs.arm64());
