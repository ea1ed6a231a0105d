/**
 * The auditor's view: the global feed of every event, live (the feed channel, with the
 * latest events read first); verification of the whole log; the NDJSON export as a
 * download. GET /audit/verify answers once when done (it reports no progress), so the
 * page shows that it is running and then the result.
 */
import { useEffect, useState } from 'preact/hooks';
import type { EventRecord } from '@claimtrail/client';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem, subscribeLive } from './session.ts';
import { claimPath } from './router.ts';
import { when } from './format.ts';

const SHOWN = 100;

interface FeedRow {
  position: number;
  type: string;
  actor: string;
  recordedAt: string;
  claimId: string | null;
  version: number;
}

export function AuditView() {
  const { session } = useDesk();
  const [rows, setRows] = useState<FeedRow[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [verify, setVerify] = useState<{ running: boolean; text: string | null }>({ running: false, text: null });
  const [download, setDownload] = useState<{ running: boolean; count: number; text: string | null }>({ running: false, count: 0, text: null });

  useEffect(() => {
    let head = 0;
    const seen = new Set<number>();
    let list: FeedRow[] = [];
    const add = (incoming: FeedRow[]) => {
      const fresh = incoming.filter((r) => !seen.has(r.position));
      for (const r of fresh) seen.add(r.position);
      list = [...fresh, ...list].sort((a, b) => b.position - a.position).slice(0, SHOWN);
      setRows(list);
    };
    return subscribeLive(
      session.client.live,
      { channel: 'feed' },
      {
        onSnapshot: (message) => {
          head = message.position;
          session.client.feed({ after: Math.max(0, head - SHOWN), limit: SHOWN }).then(
            (page) => add(page.events.map((e: EventRecord) => ({ position: e.position ?? 0, type: e.type, actor: e.actor, recordedAt: e.recordedAt, claimId: e.claimId, version: e.version }))),
            (err: unknown) => setProblem(describeProblem(err)),
          );
        },
        onEvent: (m) => add([{ position: m.position, type: m.event.type, actor: m.event.actor, recordedAt: m.event.recordedAt, claimId: m.claimId, version: m.version }]),
        onError: (m) => setProblem(m.detail),
      },
    );
  }, [session]);

  const runVerify = async () => {
    setVerify({ running: true, text: null });
    try {
      const r = (await session.client.verify()) as { ok: boolean; checked: number; durationMs?: number; projections?: { checked: number; differences: number }; firstBroken?: unknown };
      setVerify({
        running: false,
        text: r.ok
          ? `The log verifies: ${r.checked} events, every hash and link, ${r.projections?.checked ?? 0} projections rebuilt and equal${r.durationMs !== undefined ? ` (${r.durationMs} ms)` : ''}.`
          : `The log does NOT verify: ${JSON.stringify(r.firstBroken)}`,
      });
    } catch (err) {
      setVerify({ running: false, text: `Verify refused: ${describeProblem(err)}` });
    }
  };

  const runExport = async () => {
    setDownload({ running: true, count: 0, text: null });
    try {
      const response = await fetch('/events', { headers: { authorization: `Bearer ${session.token}`, accept: 'application/x-ndjson' } });
      if (!response.ok || !response.body) throw new Error(`export answered ${response.status}`);
      const reader = response.body.getReader();
      const parts: Uint8Array[] = [];
      let lines = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        for (const byte of value) if (byte === 10) lines++;
        setDownload({ running: true, count: lines, text: null });
      }
      const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: 'application/x-ndjson' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = `claimtrail-events-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.ndjson`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setDownload({ running: false, count: lines, text: `Exported ${lines} events.` });
    } catch (err) {
      setDownload({ running: false, count: 0, text: `Export failed: ${describeProblem(err)}` });
    }
  };

  return html`
    <div class="audit">
      <section class="panel" aria-labelledby="h-log">
        <h2 id="h-log">The log</h2>
        <p>
          <button type="button" id="verify-log" onClick=${runVerify} disabled=${verify.running}>Verify the whole log</button>
          <button type="button" id="export-log" onClick=${runExport} disabled=${download.running}>Download the export (NDJSON)</button>
        </p>
        ${verify.running ? html`<p role="status"><progress aria-label="Verifying the log"></progress> Verifying every event and projection…</p>` : null}
        ${verify.text ? html`<p id="verify-log-result" role="status">${verify.text}</p>` : null}
        ${download.running ? html`<p role="status"><progress aria-label="Exporting"></progress> ${download.count} events so far…</p>` : null}
        ${download.text ? html`<p id="export-result" role="status">${download.text}</p>` : null}
      </section>
      <section class="panel" aria-labelledby="h-feed">
        <h2 id="h-feed">Every event, live (latest ${SHOWN})</h2>
        ${problem ? html`<p class="problem" role="alert">${problem}</p>` : null}
        <div class="table-wrap" tabindex="0" role="region" aria-label="Global feed">
          <table class="history" id="feed">
            <thead><tr><th scope="col">Position</th><th scope="col">What</th><th scope="col">Who</th><th scope="col">When</th><th scope="col">Claim</th></tr></thead>
            <tbody>
              ${rows.map(
                (r) => html`<tr data-position=${r.position}>
                  <td>${r.position}</td><td>${r.type}</td><td>${r.actor}</td><td>${when(r.recordedAt)}</td>
                  <td>${r.claimId ? html`<a href=${claimPath(r.claimId, r.version)} data-nav>${r.claimId.slice(0, 8)} v${r.version}</a>` : ''}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  `;
}
