import type { Migration } from 'kysely';
import { migration0001 } from './0001_event_store.ts';
import { migration0002 } from './0002_claims.ts';
import { migration0003 } from './0003_claims_card.ts';
import { migration0004 } from './0004_token_expiry.ts';
import { migration0005 } from './0005_claims_unused_index.ts';
import { migration0006 } from './0006_claims_head_hash.ts';
import { migration0007 } from './0007_claims_view_only.ts';
import { migration0008 } from './0008_claims_lz4.ts';
import { migration0009 } from './0009_claims_changed_notify.ts';
import { migration0010 } from './0010_events_sequence_index_join.ts';
import { migration0011 } from './0011_claims_published_rating.ts';
import { migration0012 } from './0012_claims_pending_correction.ts';

/**
 * Every migration, by name; names sort in execution order. To add one: create
 * `NNNN_name.ts` exporting a `Migration`, import it here and add one line.
 */
export const migrations: Record<string, Migration> = {
  '0001_event_store': migration0001,
  '0002_claims': migration0002,
  '0003_claims_card': migration0003,
  '0004_token_expiry': migration0004,
  '0005_claims_unused_index': migration0005,
  '0006_claims_head_hash': migration0006,
  '0007_claims_view_only': migration0007,
  '0008_claims_lz4': migration0008,
  '0009_claims_changed_notify': migration0009,
  '0010_events_sequence_index_join': migration0010,
  '0011_claims_published_rating': migration0011,
  '0012_claims_pending_correction': migration0012,
};
