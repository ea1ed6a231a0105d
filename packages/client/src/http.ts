import type { StepRoute } from '@claimtrail/contract';
import { ProblemError, problemFromResponse } from './errors.ts';
import { LiveConnection, type WebSocketConstructor } from './live.ts';
import {
  CONSISTENCY_TOKEN_HEADER,
  DEFAULT_RETRY,
  RETRY_STATUSES,
  backoffDelay,
  connectionErrorReason,
  isConnectionError,
  laterConsistencyToken,
  randomIdempotencyKey,
  retryAfterMs,
  sleep,
  type RetryOptions,
} from './resilience.ts';
import type {
  ApproveCorrectionBody,
  AssignBody,
  Board,
  ClaimEvents,
  ClaimList,
  ClaimReview,
  ClaimView,
  CorrectBody,
  CreateClaimBody,
  EventFeed,
  EventRecord,
  EvidenceBody,
  ListClaimsQuery,
  MergeBody,
  NoteBody,
  ReadOptions,
  ReasonBody,
  VerdictBody,
  VerifyResult,
  AllowedSteps,
  WriteOptions,
  ConsumerGroupDto,
  ConsumerDeliveryDto,
  CreateConsumerGroupBody,
  CreateWebhookBody,
  CreatedWebhookDto,
  DeliveryAttemptDto,
  FetchBody,
  NackBody,
  NackResult,
  ParkedEventDto,
  WebhookDto,
} from './types.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Base URL of the API, e.g. `http://localhost:3000` (a path prefix is kept). */
  baseUrl: string;
  /** Bearer token; a function is read on every request (the board page's paste field). */
  token?: string | (() => string | undefined | null);
  /** Defaults to the global fetch (browser, Node ≥ 18). */
  fetch?: FetchLike;
  /** WebSocket implementation for `live`; defaults to the global one (browser). In Node
   *  pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * Retries of requests that are safe to repeat — reads, and writes that carry an
   * Idempotency-Key — on 502, 503 and 504 and on connection errors, with exponential
   * backoff and full jitter (a 503's `Retry-After` is honoured). Defaults: 4 retries,
   * 100 ms base, 2 s ceiling. `false`: never retry.
   */
  retry?: RetryOptions | false;
  /**
   * Gives every write without an `idempotencyKey` a fresh random one (default true), so
   * that it too can be retried safely: a retry of a write that did reach the service gets
   * the first answer back instead of writing twice. With `false`, a write without a key is
   * never retried. (A keyed write costs the service one more row, and it leaves the
   * one-round-trip write path; pass your own keys or `false` where that matters more.)
   */
  autoIdempotencyKeys?: boolean;
  /**
   * `read-your-writes` (default): every read presents the consistency token of the latest
   * write this client saw, so whichever instance answers it waits until it has caught up
   * with that write (a 503 if it cannot within its bound, which is retried). `none`: reads
   * present only a token given per call.
   */
  consistency?: 'read-your-writes' | 'none';
  /** A token to start from (e.g. another client's `consistencyToken`). */
  consistencyToken?: string;
}


/** Every route of PRODUCT.md's contract v1, typed, plus live subscriptions. */
export class ClaimtrailClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private liveConnection: LiveConnection<Board> | null = null;
  private readonly retry: Required<Omit<RetryOptions, 'onRetry'>> & Pick<RetryOptions, 'onRetry'>;
  private latestConsistencyToken: string | undefined;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    const f = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (!f) throw new Error('No fetch implementation available: pass one as the `fetch` option');
    this.fetchImpl = (input, init) => f(input, init);
    this.retry = options.retry === false ? { ...DEFAULT_RETRY, retries: 0 } : { ...DEFAULT_RETRY, ...options.retry };
    this.latestConsistencyToken = options.consistencyToken;
  }

  /**
   * The consistency token of the latest write this client has seen (undefined before
   * any). Opaque: hand it to another client (its option or this setter) so that its reads
   * see this client's writes too. Setting it replaces the remembered token.
   */
  get consistencyToken(): string | undefined {
    return this.latestConsistencyToken;
  }
  set consistencyToken(token: string | undefined) {
    this.latestConsistencyToken = token;
  }

  /** Live subscriptions over one shared websocket (created on first use). */
  get live(): LiveConnection<Board> {
    if (!this.liveConnection) {
      const url = new URL(this.baseUrl + '/ws');
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      this.liveConnection = new LiveConnection<Board>({
        url: url.toString(),
        token: () => this.token(),
        ...(this.options.WebSocket ? { WebSocket: this.options.WebSocket } : {}),
      });
    }
    return this.liveConnection;
  }

  /** Closes the live connection, if any. */
  close(): void {
    this.liveConnection?.close();
  }

  // --- claims -------------------------------------------------------------------------

  createClaim(body: CreateClaimBody, options: WriteOptions = {}): Promise<ClaimView> {
    return this.request<ClaimView>('POST', '/claims', { body, ...options });
  }

  listClaims(query: ListClaimsQuery = {}, options: ReadOptions = {}): Promise<ClaimList> {
    return this.request<ClaimList>('GET', '/claims' + queryString(query), options);
  }

  getClaim(id: string, options: ReadOptions = {}): Promise<ClaimView> {
    return this.request<ClaimView>('GET', `/claims/${enc(id)}`, options);
  }

  /** The steps this client's user may take on the claim now (from the policy table). */
  allowedSteps(id: string, options: ReadOptions = {}): Promise<AllowedSteps> {
    return this.request<AllowedSteps>('GET', `/claims/${enc(id)}/allowed-steps`, options);
  }

  // --- workflow steps (POST /claims/:id/<step>) ------------------------------------------

  triage(id: string, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'triage', {}, options);
  }
  reject(id: string, body: ReasonBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'reject', body, options);
  }
  merge(id: string, body: MergeBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'merge', body, options);
  }
  assign(id: string, body: AssignBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'assign', body, options);
  }
  addEvidence(
    id: string,
    body: EvidenceBody,
    options?: WriteOptions,
  ): Promise<ClaimView> {
    return this.step(id, 'evidence', body, options);
  }
  addNote(id: string, body: NoteBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'notes', body, options);
  }
  draftVerdict(id: string, body: VerdictBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'verdict', body, options);
  }
  submit(id: string, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'submit', {}, options);
  }
  requestChanges(id: string, body: ReasonBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'request-changes', body, options);
  }
  publish(id: string, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'publish', {}, options);
  }
  reopen(id: string, body: ReasonBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'reopen', body, options);
  }
  correct(
    id: string,
    body: CorrectBody,
    options?: WriteOptions,
  ): Promise<ClaimView> {
    return this.step(id, 'correct', body, options);
  }
  /** Applies the pending correction (`view.pendingCorrection.id`); not by its proposer nor the verdict's author. */
  approveCorrection(id: string, body: ApproveCorrectionBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'approve-correction', body, options);
  }
  rejectCorrection(id: string, body: ReasonBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'reject-correction', body, options);
  }
  retract(id: string, body: ReasonBody, options?: WriteOptions): Promise<ClaimView> {
    return this.step(id, 'retract', body, options);
  }

  /** Any step by its route segment (`triage`, `request-changes`, …). */
  step(id: string, step: StepSegment, body: object = {}, options: WriteOptions = {}): Promise<ClaimView> {
    return this.request<ClaimView>('POST', `/claims/${enc(id)}/${step}`, { body, ...options });
  }

  // --- history, audit, integration ----------------------------------------------------

  events(id: string, options: ReadOptions = {}): Promise<ClaimEvents> {
    return this.request<ClaimEvents>('GET', `/claims/${enc(id)}/events`, options);
  }

  /** The view as it was at a version or an instant. */
  state(id: string, at: { version: number } | { at: string | Date }, options: ReadOptions = {}): Promise<ClaimView> {
    const query =
      'version' in at
        ? { version: at.version }
        : { at: at.at instanceof Date ? at.at.toISOString() : at.at };
    return this.request<ClaimView>('GET', `/claims/${enc(id)}/state` + queryString(query), options);
  }

  claimReview(id: string, options: ReadOptions = {}): Promise<ClaimReview> {
    return this.request<ClaimReview>('GET', `/claims/${enc(id)}/claim-review`, options);
  }

  board(options: ReadOptions = {}): Promise<Board> {
    return this.request<Board>('GET', '/board', options);
  }

  /** One page of the global feed. */
  feed(query: { after?: number; limit?: number } = {}, options: ReadOptions = {}): Promise<EventFeed> {
    return this.request<EventFeed>('GET', '/events' + queryString(query), options);
  }

  /** Every event after `after`, streamed as NDJSON (bounded memory). */
  async *feedStream(query: { after?: number } = {}, options: ReadOptions = {}): AsyncGenerator<EventRecord> {
    const response = await this.send('GET', '/events' + queryString(query), {
      ...options,
      accept: 'application/x-ndjson',
    });
    if (!response.body) return;
    const decoder = new TextDecoder();
    let rest = '';
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, newline).trim();
        rest = rest.slice(newline + 1);
        if (line) yield JSON.parse(line) as EventRecord;
      }
    }
    if (rest.trim()) yield JSON.parse(rest) as EventRecord;
  }

  verify(query: { claimId?: string } = {}, options: ReadOptions = {}): Promise<VerifyResult> {
    return this.request<VerifyResult>('GET', '/audit/verify' + queryString(query), options);
  }

  // --- consumer groups and webhooks -----------------------------------------------------

  createConsumerGroup(body: CreateConsumerGroupBody, options: WriteOptions = {}): Promise<ConsumerGroupDto> {
    return this.request<ConsumerGroupDto>('POST', '/consumer-groups', { body, ...options });
  }

  listConsumerGroups(options: ReadOptions = {}): Promise<{ items: ConsumerGroupDto[] }> {
    return this.request('GET', '/consumer-groups', options);
  }

  getConsumerGroup(name: string, options: ReadOptions = {}): Promise<ConsumerGroupDto> {
    return this.request<ConsumerGroupDto>('GET', `/consumer-groups/${enc(name)}`, options);
  }

  deleteConsumerGroup(name: string, options: WriteOptions = {}): Promise<void> {
    return this.request<void>('DELETE', `/consumer-groups/${enc(name)}`, options);
  }

  /** Leases the next events to `member` (one per claim at most); ack or nack each. */
  async fetchEvents(name: string, body: FetchBody, options: WriteOptions = {}): Promise<ConsumerDeliveryDto[]> {
    const result = await this.request<{ deliveries: ConsumerDeliveryDto[] }>('POST', `/consumer-groups/${enc(name)}/fetch`, { body, ...options });
    return result.deliveries;
  }

  async ackEvents(name: string, positions: number[], options: WriteOptions = {}): Promise<number> {
    const result = await this.request<{ acknowledged: number }>('POST', `/consumer-groups/${enc(name)}/ack`, { body: { positions }, ...options });
    return result.acknowledged;
  }

  nackEvents(name: string, body: NackBody, options: WriteOptions = {}): Promise<NackResult> {
    return this.request<NackResult>('POST', `/consumer-groups/${enc(name)}/nack`, { body, ...options });
  }

  async listParkedEvents(name: string, query: { after?: number; limit?: number } = {}, options: ReadOptions = {}): Promise<ParkedEventDto[]> {
    const result = await this.request<{ items: ParkedEventDto[] }>('GET', `/consumer-groups/${enc(name)}/parked` + queryString(query), options);
    return result.items;
  }

  async replayParkedEvents(name: string, positions?: number[], options: WriteOptions = {}): Promise<number> {
    const body = positions ? { positions } : {};
    const result = await this.request<{ replayed: number }>('POST', `/consumer-groups/${enc(name)}/parked/replay`, { body, ...options });
    return result.replayed;
  }

  /** Subscribes a URL (admin); the answer carries the signing secret, the only time it is shown. */
  createWebhook(body: CreateWebhookBody, options: WriteOptions = {}): Promise<CreatedWebhookDto> {
    return this.request<CreatedWebhookDto>('POST', '/webhooks', { body, ...options });
  }

  async listWebhooks(options: ReadOptions = {}): Promise<WebhookDto[]> {
    return (await this.request<{ items: WebhookDto[] }>('GET', '/webhooks', options)).items;
  }

  getWebhook(id: string, options: ReadOptions = {}): Promise<WebhookDto> {
    return this.request<WebhookDto>('GET', `/webhooks/${enc(id)}`, options);
  }

  deleteWebhook(id: string, options: WriteOptions = {}): Promise<void> {
    return this.request<void>('DELETE', `/webhooks/${enc(id)}`, options);
  }

  async webhookDeliveries(id: string, query: { before?: number; limit?: number } = {}, options: ReadOptions = {}): Promise<DeliveryAttemptDto[]> {
    return (await this.request<{ items: DeliveryAttemptDto[] }>('GET', `/webhooks/${enc(id)}/deliveries` + queryString(query), options)).items;
  }

  /** Delivers again: parked events (all, or at positions) and delivered ones at positions. */
  async redeliverWebhook(id: string, positions?: number[], options: WriteOptions = {}): Promise<number> {
    const body = positions ? { positions } : {};
    return (await this.request<{ redelivered: number }>('POST', `/webhooks/${enc(id)}/redeliver`, { body, ...options })).redelivered;
  }

  enableWebhook(id: string, options: WriteOptions = {}): Promise<WebhookDto> {
    return this.request<WebhookDto>('POST', `/webhooks/${enc(id)}/enable`, { body: {}, ...options });
  }

  // --- plumbing ------------------------------------------------------------------------

  private token(): string | undefined {
    const t = typeof this.options.token === 'function' ? this.options.token() : this.options.token;
    return t || undefined;
  }

  private request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    // The body is read inside the retried exchange: a connection cut while it arrives is
    // retried like one cut before the answer.
    return this.exchange(method, path, options, async (response) => {
      if (response.status === 204) return undefined as T;
      const text = await response.text();
      return (text ? JSON.parse(text) : undefined) as T;
    });
  }

  private send(method: string, path: string, options: RequestOptions): Promise<Response> {
    return this.exchange(method, path, options, async (response) => response);
  }

  /**
   * One request, repeated while the answer or the failure says "try again" and repeating
   * is safe: a read, or a write with an Idempotency-Key (the same key on every attempt).
   */
  private async exchange<T>(method: string, path: string, options: RequestOptions, consume: (response: Response) => Promise<T>): Promise<T> {
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json', ...this.options.headers };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.ifMatch !== undefined) headers['if-match'] = `"${String(options.ifMatch).replace(/"/g, '')}"`;
    const isRead = method === 'GET' || method === 'HEAD';
    const idempotencyKey =
      options.idempotencyKey ?? (!isRead && this.options.autoIdempotencyKeys !== false ? randomIdempotencyKey() : undefined);
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const repeatable = isRead || idempotencyKey !== undefined;
    const { retries, baseDelayMs, maxDelayMs, maxRetryAfterMs, onRetry } = this.retry;
    for (let attempt = 0; ; attempt++) {
      const mayRetry = repeatable && attempt < retries && !options.signal?.aborted;
      // Each attempt presents the latest token (a concurrent write may have moved it).
      const consistencyToken = isRead ? this.readToken(options.consistencyToken) : undefined;
      if (consistencyToken !== undefined) headers[CONSISTENCY_TOKEN_HEADER] = consistencyToken;
      let retry: { delayMs: number; reason: number | string } | undefined;
      try {
        const response = await this.fetchImpl(this.baseUrl + path, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        this.remember(response);
        if (mayRetry && RETRY_STATUSES.has(response.status)) {
          const after = retryAfterMs(response.headers.get('retry-after'));
          if (after === undefined) retry = { delayMs: backoffDelay(attempt, baseDelayMs, maxDelayMs), reason: response.status };
          // At least Retry-After, plus a little jitter so that the clients it told the same
          // do not all come back in the same millisecond.
          else if (after <= maxRetryAfterMs) retry = { delayMs: after + Math.random() * baseDelayMs, reason: response.status };
        }
        if (retry === undefined) {
          if (!response.ok) throw await problemOf(response);
          return await consume(response);
        }
        // Read the rest of the refusal so that the connection can be reused.
        await response.text().catch(() => '');
      } catch (err) {
        if (!(mayRetry && !options.signal?.aborted && isConnectionError(err))) throw err;
        retry = { delayMs: backoffDelay(attempt, baseDelayMs, maxDelayMs), reason: connectionErrorReason(err) };
      }
      onRetry?.({ method, path, retry: attempt + 1, ...retry });
      await sleep(retry.delayMs, options.signal);
    }
  }

  /** The token a read presents: the remembered one (unless consistency is off) and/or the call's. */
  private readToken(perCall: string | undefined): string | undefined {
    const remembered = this.options.consistency === 'none' ? undefined : this.latestConsistencyToken;
    if (perCall === undefined) return remembered;
    return remembered === undefined ? perCall : laterConsistencyToken(remembered, perCall);
  }

  private remember(response: Response): void {
    const token = response.headers.get(CONSISTENCY_TOKEN_HEADER);
    if (token) this.latestConsistencyToken = laterConsistencyToken(this.latestConsistencyToken, token);
  }
}

async function problemOf(response: Response): Promise<ProblemError> {
  const text = await response.text().catch(() => '');
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text as the detail
  }
  return new ProblemError(problemFromResponse(response.status, response.statusText, parsed));
}

/** The `<segment>` of `POST /claims/:id/<segment>`: the contract's route names. */
export type StepSegment = StepRoute;

interface RequestOptions extends WriteOptions, ReadOptions {
  body?: unknown;
  accept?: string;
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function queryString(query: object): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    // A list (e.g. several states) travels comma-separated, which the server splits.
    params.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export function createClient(options: ClientOptions): ClaimtrailClient {
  return new ClaimtrailClient(options);
}
