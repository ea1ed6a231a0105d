import { describe } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { contractSuite } from './contract.ts';
import { tamperSuite } from './tamper.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('event store contract (PostgreSQL)', () => {
  contractSuite('postgres');
});

describe.skipIf(!pg)('tamper evidence (PostgreSQL, superuser disables the trigger)', () => {
  tamperSuite('postgres');
});
