/**
 * The bell in the top bar: the caller's unread notifications (GET /me/notifications),
 * live over the websocket channel `me` (each new one reloads the list, so the count is
 * always the server's), a panel listing them (unread first, each linking to its claim) and
 * marking them read (POST /me/notifications/read).
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem, subscribeLive } from './session.ts';
import { claimPath } from './router.ts';
import { when } from './format.ts';

export interface DeskNotification {
  id: string;
  seq: number;
  kind: string;
  claimId: string | null;
  actor: string;
  createdAt: string;
  data: Record<string, string | null> | null;
  readAt: string | null;
}

interface NotificationList {
  items: DeskNotification[];
  unreadCount: number;
}

/** What a notification says, in the reader's words. */
export function notificationText(n: Pick<DeskNotification, 'kind' | 'actor' | 'data'>): string {
  const data = n.data ?? {};
  switch (n.kind) {
    case 'assigned':
      return `${n.actor} assigned you a claim`;
    case 'changes_requested':
      return `${n.actor} requested changes on your verdict${data.reason ? `: ${data.reason}` : ''}`;
    case 'verdict_published':
      return `${n.actor} published your verdict`;
    case 'verdict_corrected':
      return `${n.actor} corrected your published verdict${data.note ? `: ${data.note}` : ''}`;
    case 'verdict_retracted':
      return `${n.actor} retracted your published verdict${data.reason ? `: ${data.reason}` : ''}`;
    case 'mentioned':
      return `${n.actor} mentioned you in a note${data.body ? `: ${data.body}` : ''}`;
    case 'claim_merged':
      return `${n.actor} merged a claim you work on into another`;
    case 'claim_escalated':
      return 'A claim is overdue and was escalated to the editors';
    default:
      return `${n.kind} by ${n.actor}`;
  }
}

const LIMIT = 30;

export function NotificationBell() {
  const { session, me, generation } = useDesk();
  const [list, setList] = useState<NotificationList>({ items: [], unreadCount: 0 });
  const [open, setOpen] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const panel = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  const load = useCallback(async () => {
    try {
      setList(await session.get<NotificationList>(`/me/notifications?limit=${LIMIT}`));
      setProblem(null);
    } catch (err) {
      setProblem(describeProblem(err));
    }
  }, [session]);

  // Subscribed first, then listed: a notification committed in between is in the list or
  // arrives live (and reloads it), never lost.
  useEffect(() => {
    if (!me) return;
    return subscribeLive(
      session.client.live,
      { channel: 'me' },
      { onNotification: () => void load(), onError: (m) => console.warn('live error', m) },
      () => void load(),
    );
  }, [me?.id, generation, session, load]);

  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        setOpen(false);
        button.current?.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [open]);

  if (!me) return null;

  const mark = async (body: { ids: string[] } | { upTo: number }) => {
    setBusy(true);
    try {
      await session.post('/me/notifications/read', body);
      await load();
    } catch (err) {
      setProblem(`Mark read refused: ${describeProblem(err)}`);
    } finally {
      setBusy(false);
    }
  };
  const unread = list.unreadCount;
  const newest = list.items.reduce((max, n) => Math.max(max, n.seq), 0);

  return html`
    <div class="bell">
      <button
        type="button"
        id="bell"
        ref=${button}
        class="bell__button"
        aria-expanded=${open}
        aria-controls="notifications"
        aria-label=${`Notifications: ${unread} unread`}
        onClick=${() => {
          if (!open) void load();
          setOpen(!open);
        }}
      >
        <svg class="bell__icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
          <path d="M12 2a6 6 0 0 0-6 6v4.6L4.3 16.3A1 1 0 0 0 5.2 18h13.6a1 1 0 0 0 .9-1.7L18 12.6V8a6 6 0 0 0-6-6zm-2.5 17a2.5 2.5 0 0 0 5 0z"></path>
        </svg>
        <span id="bell-count" class="bell__count" data-count=${unread} aria-hidden="true">${unread}</span>
      </button>
      <div id="notifications" class="bell__panel" ref=${panel} role="region" aria-label="Notifications" hidden=${!open}>
        <div class="bell__head">
          <h2 class="bell__title">Notifications</h2>
          <button type="button" id="mark-all-read" disabled=${busy || unread === 0} onClick=${() => mark({ upTo: newest })}>Mark all read</button>
        </div>
        ${problem ? html`<p class="problem" role="alert">${problem}</p>` : null}
        ${list.items.length === 0
          ? html`<p class="muted" id="no-notifications">Nothing yet.</p>`
          : html`<ul class="bell__list">
              ${list.items.map(
                (n) => html`<li class="notification ${n.readAt ? '' : 'notification--unread'}" data-notification-id=${n.id} data-kind=${n.kind}>
                  ${n.claimId
                    ? html`<a href=${claimPath(n.claimId)} data-nav onClick=${() => {
                        setOpen(false);
                        if (!n.readAt) void mark({ ids: [n.id] });
                      }}>${notificationText(n)}</a>`
                    : html`<span>${notificationText(n)}</span>`}
                  <span class="muted notification__when"><time dateTime=${n.createdAt}>${when(n.createdAt)}</time>${n.readAt ? '' : ' · unread'}</span>
                  ${n.readAt ? null : html`<button type="button" class="link-button" data-mark-read=${n.id} disabled=${busy} onClick=${() => mark({ ids: [n.id] })}>Mark read</button>`}
                </li>`,
              )}
            </ul>`}
      </div>
    </div>
  `;
}
