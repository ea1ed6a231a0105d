/**
 * The websocket protocol of one connection (PRODUCT.md "Websocket"): client messages
 * parsed and validated, `subscribe` / `unsubscribe` and their answers, errors sent back
 * as `error` messages. The transport is connection.ts; catching up is replay.ts.
 */
import {
  LIVE_CHANNELS,
  subscriptionKey,
  type ErrorMessage,
  type LiveChannel,
  type LiveErrorCode,
} from '@claimtrail/client';
import { isClaimId } from '@claimtrail/claims';
import type { Actor } from '@claimtrail/domain';
import type { WebSocket } from 'ws';
import { Connection, type ConnectionDeps } from './connection.ts';
import { catchUp, type ReplayDeps } from './replay.ts';
import { ChannelSubscription } from './subscription.ts';
import type { MeChannel, MeSubscription } from './me.ts';

/** `me`: the notifications channel (me.ts), when the desk runs. */
export type SessionDeps = ConnectionDeps & ReplayDeps & { me?: () => MeChannel | undefined };

const MAX_MESSAGE_BYTES = 4096;

class ProtocolError extends Error {
  constructor(
    readonly code: LiveErrorCode,
    detail: string,
  ) {
    super(detail);
  }
}

/** One websocket connection as the protocol sees it: who it is, and its subscriptions. */
export class Session {
  readonly connection: Connection;
  private readonly subscriptions = new Map<string, ChannelSubscription>();
  private me: MeSubscription | Promise<MeSubscription> | null = null;

  constructor(
    socket: WebSocket,
    readonly actor: Actor,
    /** sha-256 of the token it authenticated with (as revocations announce it). */
    readonly tokenHash: string,
    private readonly deps: SessionDeps,
  ) {
    this.connection = new Connection(socket, deps, () => this.stopSubscriptions());
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  heartbeat(): void {
    this.connection.heartbeat();
  }

  expireAt(at: Date): void {
    this.connection.expireAt(at);
  }

  closeWith(code: number, reason: string): void {
    this.connection.closeWith(code, reason);
  }

  private stopSubscriptions(): void {
    this.stopMe();
    for (const sub of this.subscriptions.values()) {
      sub.close();
      this.deps.hub.remove(sub);
    }
    this.subscriptions.clear();
  }

  private onMessage(data: unknown, isBinary: boolean): void {
    if (this.connection.closed) return;
    let message: Record<string, unknown>;
    try {
      if (isBinary) throw new ProtocolError('bad_message', 'binary frames are not supported; send JSON text');
      const text = Array.isArray(data)
        ? Buffer.concat(data as Buffer[]).toString('utf8')
        : Buffer.from(data as Buffer).toString('utf8');
      if (text.length > MAX_MESSAGE_BYTES) throw new ProtocolError('bad_message', 'message too large');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ProtocolError('bad_message', 'not valid JSON');
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ProtocolError('bad_message', 'expected a JSON object');
      }
      message = parsed as Record<string, unknown>;
      if (message.channel === 'me' && (message.type === 'subscribe' || message.type === 'unsubscribe')) {
        this.meMessage(message);
      } else if (message.type === 'subscribe') {
        this.subscribe(message);
      } else if (message.type === 'unsubscribe') {
        this.unsubscribe(message);
      } else {
        throw new ProtocolError('bad_message', 'type must be "subscribe" or "unsubscribe"');
      }
    } catch (err) {
      this.sendError(err);
    }
  }

  private sendError(err: unknown, channel?: LiveChannel, claimId?: string | null): void {
    const message: ErrorMessage =
      err instanceof ProtocolError
        ? { type: 'error', code: err.code, detail: err.message }
        : { type: 'error', code: 'internal', detail: 'internal error' };
    if (!(err instanceof ProtocolError)) this.deps.log.error({ err }, 'live: subscription failed');
    if (channel) message.channel = channel;
    if (claimId) message.claimId = claimId;
    this.connection.sendJson(message);
  }

  private target(message: Record<string, unknown>): { channel: LiveChannel; claimId: string | null } {
    const channel = message.channel;
    if (typeof channel !== 'string' || !(LIVE_CHANNELS as readonly string[]).includes(channel)) {
      throw new ProtocolError('unknown_channel', 'channel must be "board", "claim" or "feed"');
    }
    let claimId: string | null = null;
    if (channel === 'claim') {
      if (typeof message.claimId !== 'string' || !isClaimId(message.claimId)) {
        throw new ProtocolError('claim_id_required', 'the claim channel needs claimId (a uuid)');
      }
      claimId = message.claimId.toLowerCase();
    }
    return { channel: channel as LiveChannel, claimId };
  }

  /** The `me` channel (me.ts): the caller's notifications; `after` is a notification seq. */
  private meMessage(message: Record<string, unknown>): void {
    const channel = this.deps.me?.();
    if (!channel) throw new ProtocolError('unknown_channel', 'the me channel is not available');
    if (message.type === 'unsubscribe') {
      if (!this.me) throw new ProtocolError('not_subscribed', 'not subscribed to me');
      this.stopMe();
      this.connection.sendJson({ type: 'unsubscribed', channel: 'me' });
      return;
    }
    const after = message.after;
    if (after !== undefined && (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0)) {
      throw new ProtocolError('invalid_after', 'after must be a non-negative integer (a notification seq)');
    }
    if (this.me) throw new ProtocolError('already_subscribed', 'already subscribed to me');
    const starting = channel.subscribe(this.actor.id, this.connection, after as number | undefined);
    this.me = starting;
    this.connection.sendJson({ type: 'subscribed', channel: 'me' });
    starting.then(
      (sub) => {
        if (this.me === starting) this.me = sub;
        else channel.remove(sub);
      },
      (err: unknown) => {
        if (this.me === starting) this.me = null;
        this.sendError(new ProtocolError('replay_failed', 'could not read the notifications; subscribe again'));
        this.deps.log.error({ err }, 'live: me subscribe failed');
      },
    );
  }

  private stopMe(): void {
    const me = this.me;
    this.me = null;
    const channel = this.deps.me?.();
    if (!me || !channel) return;
    if (me instanceof Promise) void me.then((sub) => channel.remove(sub), () => undefined);
    else channel.remove(me);
  }

  private unsubscribe(message: Record<string, unknown>): void {
    const { channel, claimId } = this.target(message);
    const key = subscriptionKey(channel, claimId);
    const sub = this.subscriptions.get(key);
    if (!sub) throw new ProtocolError('not_subscribed', `not subscribed to ${key}`);
    sub.close();
    this.deps.hub.remove(sub);
    this.subscriptions.delete(key);
    this.connection.sendJson({ type: 'unsubscribed', channel, ...(claimId ? { claimId } : {}) });
  }

  /** Validates synchronously (errors go back to the peer), then starts the subscription. */
  private subscribe(message: Record<string, unknown>): void {
    const { channel, claimId } = this.target(message);
    const after = message.after;
    if (after !== undefined && (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0)) {
      throw new ProtocolError('invalid_after', 'after must be a non-negative integer position');
    }
    const key = subscriptionKey(channel, claimId);
    if (this.subscriptions.has(key)) throw new ProtocolError('already_subscribed', `already subscribed to ${key}`);
    if (this.subscriptions.size >= this.deps.config.maxSubscriptions) {
      throw new ProtocolError('bad_message', `at most ${this.deps.config.maxSubscriptions} subscriptions per connection`);
    }
    if (message.batch !== undefined && typeof message.batch !== 'boolean') {
      throw new ProtocolError('bad_message', 'batch must be true or false');
    }
    const sub = new ChannelSubscription(this.connection, channel, claimId, message.batch === true);
    this.subscriptions.set(key, sub);
    void this.start(sub, after as number | undefined);
  }

  private async start(sub: ChannelSubscription, after: number | undefined): Promise<void> {
    const { channel, claimId, key } = sub;
    try {
      await catchUp(sub, after, this.deps);
    } catch (err) {
      if (sub.isClosed()) return;
      sub.close();
      this.deps.hub.remove(sub);
      this.subscriptions.delete(key);
      this.sendError(
        err instanceof ProtocolError ? err : new ProtocolError('replay_failed', 'could not read the store; subscribe again'),
        channel,
        claimId,
      );
      if (!(err instanceof ProtocolError)) this.deps.log.error({ err }, 'live: subscribe failed');
    }
  }
}
