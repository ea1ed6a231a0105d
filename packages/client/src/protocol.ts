/**
 * The websocket protocol of `GET /ws` (PRODUCT.md, "Websocket"). Shared by the server
 * (services/api/src/live) and the client so both sides agree on every field.
 */
import type { ClaimView } from '@claimtrail/domain';

/** `me`: the caller's notifications (its `after` is a notification `seq`, not a position). */
export type LiveChannel = 'board' | 'claim' | 'feed' | 'me';
export const LIVE_CHANNELS: readonly LiveChannel[] = ['board', 'claim', 'feed'];

export interface SubscribeMessage {
  type: 'subscribe';
  channel: LiveChannel;
  /** Required for `claim`. */
  claimId?: string;
  /** Resume after this position: replay what was missed, then `caught-up`, then live. */
  after?: number;
  /**
   * Opt in to coalesced frames: live events of one server tick arrive as one frame holding
   * a JSON array of event messages (in position order). Without it every message is a
   * frame of its own, as in Contract v1. Either way a frame holds one message or an array.
   */
  batch?: boolean;
}

export interface UnsubscribeMessage {
  type: 'unsubscribe';
  channel: LiveChannel;
  claimId?: string;
}

export type ClientMessage = SubscribeMessage | UnsubscribeMessage;

export interface LiveEventBody {
  type: string;
  data: unknown;
  actor: string;
  recordedAt: string;
}

export interface EventMessage {
  type: 'event';
  channel: LiveChannel;
  position: number;
  /** Claim uuid (the stream id without `claim-`); null for a non-claim stream (feed only). */
  claimId: string | null;
  /** Stream version of the event. */
  version: number;
  /** Stream id; lets feed consumers see non-claim streams too. */
  streamId: string;
  event: LiveEventBody;
  /** The claim view as of this event; null for non-claim streams. */
  claim: ClaimView | null;
}

/** Board snapshot: the board as `GET /board` returns it. */
export interface BoardSnapshotMessage<TBoard = unknown> {
  type: 'snapshot';
  channel: 'board';
  /** Every event after this position follows; the board already reflects all before. */
  position: number;
  board: TBoard;
}

export interface ClaimSnapshotMessage {
  type: 'snapshot';
  channel: 'claim';
  position: number;
  claimId: string;
  /** null when the claim does not exist (yet). */
  claim: ClaimView | null;
}

export interface FeedSnapshotMessage {
  type: 'snapshot';
  channel: 'feed';
  /** The head: live events follow from here. */
  position: number;
}

export type SnapshotMessage<TBoard = unknown> =
  | BoardSnapshotMessage<TBoard>
  | ClaimSnapshotMessage
  | FeedSnapshotMessage;

export interface CaughtUpMessage {
  type: 'caught-up';
  channel: LiveChannel;
  claimId?: string;
  position: number;
}

export interface UnsubscribedMessage {
  type: 'unsubscribed';
  channel: LiveChannel;
  claimId?: string;
}

export type LiveErrorCode =
  | 'bad_message'
  | 'unknown_channel'
  | 'claim_id_required'
  | 'invalid_after'
  | 'already_subscribed'
  | 'not_subscribed'
  | 'replay_failed'
  | 'internal';

export interface ErrorMessage {
  type: 'error';
  code: LiveErrorCode;
  detail: string;
  channel?: LiveChannel;
  claimId?: string;
}

/** The `me` channel (the caller's notifications, docs/desk-operations.md): subscribed. */
export interface SubscribedMessage {
  type: 'subscribed';
  channel: 'me';
}

/** One notification of the caller on the `me` channel (docs/desk-operations.md), each delivered once, in `seq` order. */
export interface NotificationMessage {
  type: 'notification';
  channel: 'me';
  seq: number;
  notification: {
    id: string;
    seq: number;
    recipient: string;
    kind: string;
    claimId: string | null;
    actor: string;
    createdAt: string;
    data: Record<string, unknown> | null;
    readAt: string | null;
  };
}

export type ServerMessage<TBoard = unknown> =
  | EventMessage
  | NotificationMessage
  | SnapshotMessage<TBoard>
  | CaughtUpMessage
  | UnsubscribedMessage
  | SubscribedMessage
  | ErrorMessage;

/** Close codes the server uses. */
export const CLOSE_GOING_AWAY = 1001;
/** "Try again later": the client fell too far behind; reconnect and resume with `after`. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** Key of one subscription on one connection. */
export function subscriptionKey(channel: LiveChannel, claimId?: string | null): string {
  return channel === 'claim' ? `claim:${claimId ?? ''}` : channel;
}
