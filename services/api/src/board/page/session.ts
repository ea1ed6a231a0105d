/**
 * The signed-in session: the token (pasted, kept in sessionStorage for this tab only; or
 * the demo token a loopback visitor is offered, never stored), the API client over it, and
 * who the token belongs to (GET /me).
 */
import { ClaimtrailClient, ProblemError, problemFromResponse } from '@claimtrail/client';
import type { Role } from '@claimtrail/domain';

export interface PageConfig {
  demoToken?: string;
  demoRole?: string;
}

export interface Me {
  id: string;
  role: Role;
  name?: string;
}

export const TOKEN_KEY = 'claimtrail.token';

export async function loadConfig(): Promise<PageConfig> {
  try {
    const response = await fetch('/assets/board/config.json', { cache: 'no-store', credentials: 'same-origin' });
    if (!response.ok) return {};
    const body = (await response.json()) as PageConfig;
    return typeof body === 'object' && body !== null ? body : {};
  } catch {
    return {};
  }
}

export class Session {
  token: string;
  readonly client: ClaimtrailClient;

  constructor(readonly config: PageConfig) {
    localStorage.removeItem(TOKEN_KEY); // tokens are never kept across sessions; drop one left there
    this.token = sessionStorage.getItem(TOKEN_KEY) || config.demoToken || '';
    this.client = new ClaimtrailClient({ baseUrl: location.origin, token: () => this.token });
  }

  get pasted(): string {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  }

  /** A pasted token, or '' for the demo token (when offered). */
  use(value: string): void {
    const trimmed = value.trim();
    if (trimmed) sessionStorage.setItem(TOKEN_KEY, trimmed);
    else sessionStorage.removeItem(TOKEN_KEY);
    this.token = trimmed || this.config.demoToken || '';
  }

  forgetRefused(): void {
    if (sessionStorage.getItem(TOKEN_KEY) === this.token) sessionStorage.removeItem(TOKEN_KEY);
  }

  /** GET with the token, JSON answer; problems thrown as ProblemError like the client's. */
  get<T>(path: string): Promise<T> {
    return this.request<T>(path);
  }

  /** POST of a JSON body with the token (for routes the typed client does not have). */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>(path, { method: 'POST', body: JSON.stringify(body), contentType: 'application/json' });
  }

  private async request<T>(path: string, options: { method?: string; body?: string; contentType?: string } = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (options.contentType) headers['content-type'] = options.contentType;
    const response = await fetch(path, { method: options.method ?? 'GET', headers, ...(options.body !== undefined ? { body: options.body } : {}) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text for the problem
    }
    if (!response.ok) throw new ProblemError(problemFromResponse(response.status, response.statusText, body));
    return body as T;
  }
}

export function isRefusal(err: unknown): err is ProblemError {
  return err instanceof ProblemError && (err.status === 401 || err.status === 403);
}

/** A problem said plainly: its detail (or title) and code. */
export function describeProblem(err: unknown): string {
  if (err instanceof ProblemError) {
    const text = err.detail || err.title || `HTTP ${err.status}`;
    return err.code ? `${text} (${err.code}, ${err.status})` : `${text} (${err.status})`;
  }
  return err instanceof Error ? err.message : String(err);
}

type LiveClient = ClaimtrailClient['live'];

/**
 * Subscribes to a live channel for as long as a view shows it; returns the unsubscribe.
 * `ready` runs once the subscription is in place (a view lists after subscribing, so that
 * nothing committed in between is lost).
 *
 * Why not `live.subscribe` straight from an effect: Preact runs an unmounted view's effect
 * cleanup after paint, but runs a newly mounted view's effect at once when it re-renders
 * before then. The new view can so ask for a channel its predecessor still holds, and the
 * client refuses a second subscription to one channel. This waits (a frame at a time) for
 * the predecessor's cleanup, which that same after-paint flush runs.
 */
export function subscribeLive(
  live: LiveClient,
  spec: Parameters<LiveClient['subscribe']>[0],
  handlers: Parameters<LiveClient['subscribe']>[1],
  ready?: () => void,
): () => void {
  let subscription: ReturnType<LiveClient['subscribe']> | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = (tries: number): void => {
    if (stopped) return;
    try {
      subscription = live.subscribe(spec, handlers);
    } catch (err) {
      if (tries < 100 && err instanceof Error && err.message.startsWith('already subscribed')) {
        timer = setTimeout(() => attempt(tries + 1), 16);
        return;
      }
      throw err;
    }
    ready?.();
  };
  attempt(0);
  return () => {
    stopped = true;
    clearTimeout(timer);
    subscription?.unsubscribe();
  };
}
