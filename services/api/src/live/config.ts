export interface LiveConfig {
  /** Ping every interval; a peer that answers none of two pings in a row is terminated. */
  heartbeatIntervalMs: number;
  /** Bytes a socket may have queued (ws `bufferedAmount`) before it is closed with 1013. */
  maxBufferedBytes: number;
  /** Live events a subscription may hold back while it replays, before 1013. */
  maxQueuedMessages: number;
  /** Page size of replays from the store. */
  replayBatchSize: number;
  /**
   * Latest events the hub keeps for replays: a resume whose `after` is among them reads
   * nothing from the store (the watchers of a killed instance resuming elsewhere).
   */
  replayBufferEvents: number;
  /** Subscriptions one connection may hold. */
  maxSubscriptions: number;
  /** After a 1013 close, how long the peer gets to read what is queued before it is cut. */
  closeGraceMs: number;
  /**
   * How often the open sockets' tokens are checked again (one query for all of them):
   * a user disabled, or a token revoked where no notice reaches this instance, loses its
   * sockets within this bound. Expiry needs no check: each socket has a timer.
   */
  tokenRecheckIntervalMs: number;
}

export const DEFAULT_LIVE_CONFIG: LiveConfig = {
  heartbeatIntervalMs: 20_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxQueuedMessages: 10_000,
  replayBatchSize: 500,
  replayBufferEvents: 4096,
  maxSubscriptions: 64,
  closeGraceMs: 10_000,
  tokenRecheckIntervalMs: 5_000,
};
