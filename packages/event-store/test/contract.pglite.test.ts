import { describe } from 'vitest';
import { contractSuite } from './contract.ts';
import { tamperSuite } from './tamper.ts';

describe('event store contract (PGlite memory://)', () => {
  contractSuite('pglite');
});

describe('tamper evidence (PGlite memory://)', () => {
  tamperSuite('pglite');
});
