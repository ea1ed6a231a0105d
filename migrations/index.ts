import type { Migration } from 'kysely';
import { eventStoreMigrations, migrationsByName, type NamedMigration } from '@claimtrail/event-store';
import { migration0002 } from './0002_claims.ts';
import { migration0003 } from './0003_claims_card.ts';
import { migration0004 } from './0004_token_expiry.ts';
import { migration0005 } from './0005_claims_unused_index.ts';
import { migration0006 } from './0006_claims_head_hash.ts';
import { migration0007 } from './0007_claims_view_only.ts';
import { migration0008 } from './0008_claims_lz4.ts';
import { migration0009 } from './0009_claims_changed_notify.ts';
import { migration0011 } from './0011_claims_published_rating.ts';
import { migration0012 } from './0012_claims_pending_correction.ts';
import { migration0013 } from './0013_shared_limits.ts';
import { migration0014 } from './0014_claims_changed_by_subscription.ts';
import { migration0020a } from './0020a_webhooks.ts';
import { migration0022 } from './0022_claims_similarity.ts';
import { migration0022a } from './0022a_desk_notifications.ts';
import { migration0022b } from './0022b_desk_deadlines.ts';
import { migration0022c } from './0022c_desk_analytics.ts';
import { migration0023 } from './0023_checkpoint_signer.ts';

/**
 * The application's migrations (claims, tokens), in order. To add one: create
 * `NNNN_name.ts` exporting a `Migration` (the next number after every migration here and in
 * the event store), import it here and add one line. Names are recorded in databases:
 * never rename one.
 */
export const applicationMigrations: readonly NamedMigration[] = [
  { name: '0002_claims', migration: migration0002 },
  { name: '0003_claims_card', migration: migration0003 },
  { name: '0004_token_expiry', migration: migration0004 },
  { name: '0005_claims_unused_index', migration: migration0005 },
  { name: '0006_claims_head_hash', migration: migration0006 },
  { name: '0007_claims_view_only', migration: migration0007 },
  { name: '0008_claims_lz4', migration: migration0008 },
  { name: '0009_claims_changed_notify', migration: migration0009 },
  { name: '0011_claims_published_rating', migration: migration0011 },
  { name: '0012_claims_pending_correction', migration: migration0012 },
  { name: '0013_shared_limits', migration: migration0013 },
  { name: '0014_claims_changed_by_subscription', migration: migration0014 },
  { name: '0020a_webhooks', migration: migration0020a },
  { name: '0022_claims_similarity', migration: migration0022 },
  { name: '0022a_desk_notifications', migration: migration0022a },
  { name: '0022b_desk_deadlines', migration: migration0022b },
  { name: '0022c_desk_analytics', migration: migration0022c },
  { name: '0023_checkpoint_signer', migration: migration0023 },
];

/**
 * Every migration of a claimtrail database, by name; names sort in execution order. The
 * event store's own (`0001_event_store`, `0010_events_sequence_index_join`: the `events`
 * table and its sequencer) come from `@claimtrail/event-store`; the rest are the
 * application's, above.
 */
export const migrations: Record<string, Migration> = migrationsByName(eventStoreMigrations, applicationMigrations);
