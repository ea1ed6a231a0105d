import { sql, type Kysely, type Transaction } from 'kysely';
import type { DeskProjection, FollowedEvent } from './follower.ts';
import { mentionedIds, notificationsOf, type NotificationKind } from './notification-rules.ts';

/**
 * In-app notifications: a desk projection (follower.ts) of the events, rows in
 * `notifications`. `seq` is made from the event's position (position × 64 + the
 * notification's index among the event's), so it is the same after a rebuild and grows
 * in the order the follower commits: the `me` channel and paging use it. Whether a
 * notification was read is the user's doing, not the log's: `notification_reads`, which a
 * rebuild leaves alone.
 */
const PER_EVENT = 64;

export interface Notification {
  id: string;
  seq: number;
  recipient: string;
  kind: NotificationKind;
  claimId: string;
  actor: string;
  createdAt: string;
  data: Record<string, string | null>;
  readAt: string | null;
}

export const notificationsProjection: DeskProjection = {
  name: 'notifications',
  async apply(tx, events) {
    const mentioned = new Set<string>();
    for (const e of events) if (e.envelope.type === 'NoteAdded') for (const id of mentionedIds(e.envelope.data.body)) mentioned.add(id);
    const users = new Set<string>();
    if (mentioned.size > 0) {
      const { rows } = await sql<{ id: string }>`select id from users where id = any(${[...mentioned]}::text[])`.execute(tx);
      for (const r of rows) users.add(r.id);
    }
    let editors: string[] = [];
    if (events.some((e) => e.envelope.type === 'ClaimEscalated')) {
      const { rows } = await sql<{ id: string }>`select id from users where role = 'editor' and not disabled order by id`.execute(tx);
      editors = rows.map((r) => r.id);
    }
    const records = events.flatMap((e: FollowedEvent) =>
      notificationsOf(e.envelope, e.before, { isUser: (id) => users.has(id), editors })
        .slice(0, PER_EVENT)
        .map((n, i) => ({
          id: `${e.eventId}:${n.kind}:${n.recipient}`,
          seq: e.position * PER_EVENT + i,
          recipient: n.recipient,
          kind: n.kind,
          claim_id: e.claimId,
          actor: e.envelope.actor,
          created_at: new Date(e.envelope.recordedAt).toISOString(),
          data: n.data,
        })),
    );
    if (records.length === 0) return;
    await sql`insert into notifications (id, seq, recipient, kind, claim_id, actor, created_at, data)
              select r.id, r.seq, r.recipient, r.kind, r.claim_id, r.actor, r.created_at, r.data
                from json_to_recordset(${JSON.stringify(records)}::json)
                  as r(id text, seq bigint, recipient text, kind text, claim_id uuid, actor text, created_at timestamptz, data jsonb)
              on conflict (id) do nothing`.execute(tx);
  },
  async reset(tx) {
    await sql`delete from notifications`.execute(tx);
  },
};

interface NotificationRow {
  id: string;
  seq: string;
  recipient: string;
  kind: NotificationKind;
  claim_id: string;
  actor: string;
  created_at: Date | string;
  data: unknown;
  read_at: Date | string | null;
}

function toNotification(r: NotificationRow): Notification {
  const iso = (v: Date | string) => new Date(v).toISOString();
  return {
    id: r.id,
    seq: Number(r.seq),
    recipient: r.recipient,
    kind: r.kind,
    claimId: r.claim_id,
    actor: r.actor,
    createdAt: iso(r.created_at),
    data: (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, string | null>,
    readAt: r.read_at === null ? null : iso(r.read_at),
  };
}

const SELECT = sql`select n.id, n.seq::text as seq, n.recipient, n.kind, n.claim_id, n.actor, n.created_at, n.data, r.read_at
                     from notifications n left join notification_reads r on r.id = n.id`;

/** Paging position: unread ones come first, each part newest first. */
export interface NotificationCursor {
  read: boolean;
  seq: number;
}

export function encodeNotificationCursor(c: NotificationCursor): string {
  return `${c.read ? 'r' : 'u'}${c.seq}`;
}

/** Null for anything that is not a cursor this service made. */
export function decodeNotificationCursor(text: string): NotificationCursor | null {
  const m = /^([ru])(\d{1,18})$/.exec(text);
  if (!m) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { read: m[1] === 'r', seq } : null;
}

export interface NotificationPage {
  items: Notification[];
  unreadCount: number;
  nextCursor: string | null;
}

/** A user's notifications: unread first, each part newest first; `unreadOnly` leaves the read ones out. */
export async function listNotifications(
  db: Kysely<any>,
  recipient: string,
  options: { limit: number; cursor?: NotificationCursor; unreadOnly?: boolean },
): Promise<NotificationPage> {
  const c = options.cursor;
  const after = c === undefined
    ? sql`true`
    : c.read
      ? sql`(r.id is not null and n.seq < ${c.seq})`
      : sql`((r.id is null and n.seq < ${c.seq}) or r.id is not null)`;
  const { rows } = await sql<NotificationRow>`${SELECT}
      where n.recipient = ${recipient} and ${after} ${options.unreadOnly ? sql`and r.id is null` : sql``}
      order by (r.id is not null), n.seq desc limit ${options.limit + 1}`.execute(db);
  const unread = await sql<{ n: string }>`
      select count(*)::text as n from notifications n
       where n.recipient = ${recipient} and not exists (select 1 from notification_reads r where r.id = n.id)`.execute(db);
  const items = rows.slice(0, options.limit).map(toNotification);
  const last = items[items.length - 1];
  return {
    items,
    unreadCount: Number(unread.rows[0]?.n ?? 0),
    nextCursor: rows.length > options.limit && last ? encodeNotificationCursor({ read: last.readAt !== null, seq: last.seq }) : null,
  };
}

/** A user's notifications after `seq`, oldest first (the `me` channel's catch-up). */
export async function notificationsAfter(db: Kysely<any>, recipient: string | null, seq: number, limit: number): Promise<Notification[]> {
  const { rows } = await sql<NotificationRow>`${SELECT}
      where n.seq > ${seq} ${recipient === null ? sql`` : sql`and n.recipient = ${recipient}`}
      order by n.seq limit ${limit}`.execute(db);
  return rows.map(toNotification);
}

/** The highest notification seq (0 when none). */
export async function lastNotificationSeq(db: Kysely<any> | Transaction<any>): Promise<number> {
  const { rows } = await sql<{ s: string | null }>`select max(seq)::text as s from notifications`.execute(db);
  return Number(rows[0]?.s ?? 0);
}

/**
 * Marks a user's notifications read: the given ids (others' ids and unknown ones are
 * ignored), or every one up to `upTo` (seq). Returns how many became read now.
 */
export async function markNotificationsRead(
  db: Kysely<any>,
  recipient: string,
  which: { ids: readonly string[] } | { upTo: number },
  at: Date,
): Promise<number> {
  const match = 'ids' in which ? sql`n.id = any(${[...which.ids]}::text[])` : sql`n.seq <= ${which.upTo}`;
  const result = await sql`insert into notification_reads (id, read_at)
      select n.id, ${at.toISOString()}::timestamptz from notifications n
       where n.recipient = ${recipient} and ${match}
      on conflict (id) do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
