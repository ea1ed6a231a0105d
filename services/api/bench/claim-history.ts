/**
 * A newsroom's history for the store benches: claim streams of ten realistic events each,
 * written by the domain's own decide (submitted → triaged → assigned → three pieces of
 * evidence → a note → a verdict → review → published), appended through the store so the
 * hash chain, versions and positions are the real ones.
 */
import { randomUUID } from 'node:crypto';
import { decide, evolve, initialClaimState, RATING_NAMES, type Actor, type ClaimCommand, type ClaimState } from '@claimtrail/domain';
import type { EventStore, JsonObject, NewEvent } from '@claimtrail/event-store';

export const PER_CLAIM = 10;

const factChecker: Actor = { id: 'bench-fc', role: 'fact_checker' };
const editor: Actor = { id: 'bench-ed', role: 'editor' };

export function claimCommands(i: number): [ClaimCommand, Actor][] {
  return [
    [
      {
        type: 'submit_claim',
        text: `Claim ${i}: the Freedom of Russia Legion holds Tyotkino in the Kursk region after crossing the border on 12 March 2024`,
        claimant: i % 3 === 0 ? 'Freedom of Russia Legion' : i % 3 === 1 ? 'Kursk governor Roman Starovoit' : 'FSB',
        language: 'en',
        tags: ['kursk', `batch-${i % 50}`],
        appearances: [
          { url: `https://example.org/report/${i}`, outlet: 'Example News', title: `Report ${i}`, publishedAt: '2024-03-12T08:00:00Z', excerpt: 'Fighters say they crossed the border.' },
        ],
      },
      factChecker,
    ],
    [{ type: 'triage' }, editor],
    [{ type: 'assign', assignee: factChecker.id }, editor],
    [{ type: 'add_evidence', summary: 'The governor says there was no breakthrough', stance: 'refutes', url: `https://example.org/gov/${i}` }, factChecker],
    [{ type: 'add_evidence', summary: 'Video geolocated near the checkpoint', stance: 'context', url: `https://example.org/geo/${i}` }, factChecker],
    [{ type: 'add_evidence', summary: 'Legion statement on Telegram', stance: 'supports', url: null }, factChecker],
    [{ type: 'add_note', body: 'Spelling variants: Tyotkino, Tetkino, Tjotkino.' }, factChecker],
    [{ type: 'draft_verdict', rating: RATING_NAMES[i % RATING_NAMES.length]!, rationale: 'Independent sources contradict the claim of full control.' }, factChecker],
    [{ type: 'submit_for_review' }, factChecker],
    [{ type: 'publish' }, editor],
  ];
}

/** The events of one claim, written by the domain itself (so the fold is realistic). */
export function claimEvents(i: number): { streamId: string; events: NewEvent[] } {
  const claimId = randomUUID();
  let state: ClaimState = initialClaimState;
  const events: NewEvent[] = [];
  for (const [command, actor] of claimCommands(i)) {
    // The one assignee is the bench's fact-checker (what the service's directory lookup would find).
    const assignee = command.type === 'assign' ? { assignee: { id: factChecker.id, role: factChecker.role, active: true } } : {};
    const decision = decide(command, state, actor, { claimId, ...assignee });
    if (!decision.ok) throw new Error(`bench data refused: ${decision.refusal.code} ${decision.refusal.message}`);
    for (const event of decision.events) {
      state = evolve(state, { ...event, actor: actor.id, recordedAt: new Date(), version: state.version + 1 } as never);
      events.push({ type: event.type, data: event.data as unknown as JsonObject, metadata: { actor: actor.id, actorRole: actor.role } });
    }
  }
  return { streamId: `claim-${claimId}`, events };
}

/**
 * Appends `total` events: claim streams of PER_CLAIM events each (the last one shorter),
 * one stream per append, `inFlight` appends at a time; progress on stderr.
 */
export async function fillClaimHistory(store: EventStore, total: number, inFlight = 4): Promise<number> {
  const claims = Math.ceil(total / PER_CLAIM);
  let next = 0;
  let appended = 0;
  const started = performance.now();
  let lastReport = started;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < claims; i = next++) {
        const { streamId, events } = claimEvents(i);
        await store.append(streamId, events.slice(0, total - i * PER_CLAIM), { expectedVersion: 'no_stream' });
        appended += Math.min(events.length, total - i * PER_CLAIM);
        const now = performance.now();
        if (now - lastReport > 2000) {
          lastReport = now;
          process.stderr.write(`  appended ${appended.toLocaleString('en')}/${total.toLocaleString('en')}\n`);
        }
      }
    }),
  );
  const ms = performance.now() - started;
  process.stderr.write(`  appended ${appended.toLocaleString('en')} events in ${(ms / 1000).toFixed(1)} s (${Math.round((appended / ms) * 1000).toLocaleString('en')}/s)\n`);
  return appended;
}

