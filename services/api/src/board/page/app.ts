/**
 * The desk's shell: the top bar (sign-in form, who is signed in and what that role can do,
 * the notifications bell, the live status), the notice line, and the view for the current URL.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { LiveStatus } from '@claimtrail/client';
import { html } from './html.ts';
import { DeskContext, type Desk } from './context.ts';
import { isRefusal, type Me, type Session } from './session.ts';
import { useRoute } from './router.ts';
import { ROLE_LABELS } from './format.ts';
import { BoardView } from './board.ts';
import { ClaimDetail } from './claim.ts';
import { SubmitClaim } from './submit.ts';
import { AuditView } from './audit.ts';
import { StatsView, STATS_ROLES } from './stats.ts';
import { NotificationBell } from './notifications.ts';

type PageStatus = LiveStatus | 'rejected' | 'no-token' | 'signed-in';
const STATUS_TEXT: Record<PageStatus, string> = {
  'signed-in': 'Signed in',
  open: 'Live',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
  rejected: 'Token refused',
  'no-token': 'Signed out',
};

/** What each role does here, said once under the sign-in form. */
const ROLE_CAN: Record<string, string> = {
  fact_checker: 'submit claims, research the ones assigned to you (evidence, notes, verdict drafts) and send them for review',
  editor: 'submit and triage claims, reject or merge them, assign research, request changes, publish, reopen, correct and retract',
  auditor: 'read everything: the live feed of every event, any claim’s history and time travel, verification of the log, the export',
  admin: 'take every step of the workflow',
};

export function App({ session }: { session: Session }) {
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);
  const [generation, setGeneration] = useState(0);
  const [status, setStatus] = useState<PageStatus>(session.token ? 'connecting' : 'no-token');
  const [refusal, setRefusal] = useState<string | null>(null);
  const refused = useRef(false);
  const tokenInput = useRef<HTMLInputElement>(null);

  const onRefused = useCallback((detail: string | undefined) => {
    refused.current = true;
    session.client.live.close();
    session.forgetRefused();
    setMe(null);
    setStatus('rejected');
    setRefusal(`That token was refused${detail ? ` (${detail})` : ''}. Paste a valid API token above to sign in.`);
    tokenInput.current?.focus();
  }, [session]);

  // Ask the API who the token is first: a refused token is said plainly, not retried forever.
  useEffect(() => {
    refused.current = false;
    setRefusal(null);
    setMe(null);
    if (!session.token) {
      setStatus('no-token');
      tokenInput.current?.focus();
      return;
    }
    setStatus('connecting');
    const attempt = session.token;
    session
      .get<Me>('/me')
      .then((who) => {
        if (attempt === session.token) setMe(who);
      })
      .catch((err: unknown) => {
        if (attempt === session.token && isRefusal(err)) onRefused(err.detail);
      });
  }, [generation, session, onRefused]);

  useEffect(
    () =>
      session.client.live.onStatus((live) => {
        if (refused.current) return;
        // The socket cannot say why an upgrade was refused; the same token on HTTP can.
        if (live === 'reconnecting') {
          session.get('/me').catch((err: unknown) => {
            if (isRefusal(err)) onRefused(err.detail);
          });
        }
        setStatus(live);
      }),
    [session, onRefused],
  );

  const signIn = (event: Event) => {
    event.preventDefault();
    session.client.live.close();
    session.use(tokenInput.current?.value ?? '');
    setGeneration((g) => g + 1);
  };

  const desk: Desk = useMemo(() => ({ session, me, generation, onRefused }), [session, me, generation, onRefused]);
  const signedIn = me !== null && status !== 'rejected';
  // The submit form itself uses no live channel (only the bell does): until the socket is open, "Signed in" is what is true.
  const shown: PageStatus = signedIn && route.name === 'new' && status === 'connecting' ? 'signed-in' : status;
  const notice =
    status === 'rejected'
      ? { kind: 'refused', text: refusal ?? 'That token was refused.' }
      : status === 'no-token'
        ? { kind: 'sign-in', text: 'Sign in: paste an API token above (`npm run tokens -- create …` makes one).' }
        : null;

  return html`
    <${DeskContext.Provider} value=${desk}>
      <header class="topbar">
        <div class="brand">
          <span class="brand__mark" aria-hidden="true">✓</span>
          <a class="brand__name" href="/" data-nav>claimtrail <span class="brand__sub">desk</span></a>
        </div>
        <nav class="nav" aria-label="Desk">
          <a href="/" data-nav aria-current=${route.name === 'board' ? 'page' : undefined}>Board</a>
          ${me && me.role !== 'auditor' ? html`<a href="/desk/new" data-nav aria-current=${route.name === 'new' ? 'page' : undefined}>New claim</a>` : null}
          ${me && me.role !== 'fact_checker' ? html`<a href="/desk/audit" data-nav aria-current=${route.name === 'audit' ? 'page' : undefined}>Audit</a>` : null}
          ${me && STATS_ROLES.includes(me.role) ? html`<a href="/desk/stats" data-nav aria-current=${route.name === 'stats' ? 'page' : undefined}>Stats</a>` : null}
          <a href="/fact-checks">Public fact-checks</a>
        </nav>
        <div class="controls">
          <form id="token-form" class="control control--token" autocomplete="off" onSubmit=${signIn}>
            <label class="control__label" for="token">Token</label>
            <input
              id="token"
              ref=${tokenInput}
              type="password"
              defaultValue=${session.pasted}
              placeholder=${session.config.demoToken ? `Using the demo ${session.config.demoRole ?? 'editor'} token` : 'Paste an API token'}
              spellcheck=${false}
            />
            <button type="submit">Sign in</button>
          </form>
          <div id="whoami" class="whoami" data-role=${me?.role ?? ''}>
            ${me ? html`<span class="whoami__name">${me.name ?? me.id}</span> <span class="role-badge">${ROLE_LABELS[me.role] ?? me.role}</span>` : null}
          </div>
          ${signedIn ? html`<${NotificationBell} />` : null}
          <div id="connection" class="connection" data-status=${shown} role="status" aria-live="polite">
            <span class="connection__dot" aria-hidden="true"></span>
            <span id="connection-text">${STATUS_TEXT[shown] ?? shown}</span>
          </div>
        </div>
      </header>
      <p id="notice" class="notice" role="alert" data-kind=${notice?.kind ?? ''} hidden=${notice === null}>${notice?.text ?? ''}</p>
      ${me ? html`<p id="role-help" class="role-help">As ${ROLE_LABELS[me.role] ?? me.role} you can ${ROLE_CAN[me.role] ?? 'read'}.</p>` : null}
      <main id="main" class="main">
        ${status === 'rejected' || status === 'no-token'
          ? null
          : route.name === 'board'
            ? html`<${BoardView} key=${generation} query=${route.query} />`
            : !signedIn
              ? html`<p class="muted">Loading…</p>`
              : route.name === 'claim'
                ? html`<${ClaimDetail} key=${`${generation}:${route.id}`} id=${route.id} query=${route.query} />`
                : route.name === 'new'
                  ? html`<${SubmitClaim} />`
                  : route.name === 'audit'
                    ? html`<${AuditView} key=${generation} />`
                    : route.name === 'stats'
                      ? html`<${StatsView} key=${generation} />`
                    : html`<p>Nothing here. <a href="/" data-nav>Back to the board</a>.</p>`}
      </main>
    <//>
  `;
}
