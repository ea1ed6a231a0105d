/**
 * Public fact-check pages (no token): the list and one page, server-rendered; the
 * ClaimReview JSON-LD embedded and escaped; ETag and 304; only published, corrected and
 * retracted claims, anything else answered like an unknown id; user text always escaped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { PROVENANCE_PROPERTY } from '@claimtrail/claimreview';
import { leafHashOf, openNote, parseCheckpoint, verifyInclusion } from '@claimtrail/transparency';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

const HOSTILE = `Governor says </script><script>alert(1)</script> and <img src=x onerror="alert(2)"> & "quotes" \u2028 done`;

async function publish(t: TestApp, body: Record<string, unknown>, evidenceUrl = 'https://example.org/report'): Promise<string> {
  const { id } = await createClaim(t, t.as.fact_checker, body);
  await must(t, id, 'triage', t.as.editor);
  await must(t, id, 'assign', t.as.editor, { assignee: 'demo-fact-checker' });
  await must(t, id, 'evidence', t.as.fact_checker, { summary: `Report <b>A</b> contradicts it`, stance: 'refutes', url: evidenceUrl });
  await must(t, id, 'verdict', t.as.fact_checker, { rating: 'false', rationale: 'Two reports <i>contradict</i> it' });
  await must(t, id, 'submit', t.as.fact_checker);
  await must(t, id, 'publish', t.as.editor);
  return id;
}

function jsonLdOf(html: string): string[] {
  return [...html.matchAll(/<script type="application\/ld\+json">([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
}

describe.skipIf(!pg)('public fact-check pages', () => {
  let t: TestApp;
  let published: string;
  let hostile: string;
  beforeAll(async () => {
    t = await startApp({ config: { publicUrl: 'https://facts.example.org' } });
    published = await publish(t, { text: 'The Legion holds Tyotkino', claimant: 'Freedom of Russia Legion', appearances: [{ url: 'https://t.me/legion/1', outlet: 'Telegram' }] });
    hostile = await publish(t, { text: HOSTILE, claimant: `<script>alert("claimant")</script>`, appearances: [{ url: 'https://example.org/a"onmouseover=alert(3)', title: '<svg onload=alert(4)>' }] }, 'https://example.org/?q=<x>');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shows a published fact-check without a token, with its ClaimReview JSON-LD pointing at the page', async () => {
    const page = await call(t.app, { url: `/fact-checks/${published}` });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('The Legion holds Tyotkino');
    expect(page.body).toContain('Freedom of Russia Legion');
    expect(page.body).toContain('False');
    expect(page.body).toContain('href="https://example.org/report"');
    const blocks = jsonLdOf(page.body);
    expect(blocks).toHaveLength(1);
    const review = JSON.parse(blocks[0]!);
    expect(review['@type']).toBe('ClaimReview');
    expect(review.url).toBe(`https://facts.example.org/fact-checks/${published}`);
    expect(review.claimReviewed).toBe('The Legion holds Tyotkino');
    expect(review.reviewRating.alternateName).toBeTruthy();
    // No script runs on the page: the JSON-LD block is data, and the CSP allows none inline.
    expect(page.body.match(/<script/g)).toHaveLength(1);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
  });

  it('carries the verdict receipt, pinned to the first checkpoint that covers it: the page stays the same while the log grows', async () => {
    await t.app.transparency.sync();
    const first = await call(t.app, { url: `/fact-checks/${hostile}` });
    const receipt = JSON.parse(jsonLdOf(first.body)[0]!)[PROVENANCE_PROPERTY]['@value'];
    expect(receipt.events.map((e: { role: string }) => e.role)).toEqual(['verdict', 'approval']);
    const { rootHash, size } = parseCheckpoint(openNote(receipt.checkpoint).text);
    for (const e of receipt.events) {
      const leaf = leafHashOf({ hash: e.hash, position: e.position, streamId: e.streamId, version: e.version });
      expect(verifyInclusion(e.leafIndex, size, leaf, e.inclusionProof.map((h: string) => Buffer.from(h, 'base64')), rootHash)).toBe(true);
    }
    // The log grows and a newer checkpoint is signed: the page (and its ETag) does not change.
    await createClaim(t);
    await t.app.transparency.sync();
    const later = await call(t.app, { url: `/fact-checks/${hostile}`, headers: { 'if-none-match': first.headers.etag as string } });
    expect(later.statusCode).toBe(304);
  });

  it('answers 304 for its ETag and a new ETag once corrected; the corrections log is on the page', async () => {
    const first = await call(t.app, { url: `/fact-checks/${published}` });
    const tag = first.headers.etag as string;
    expect(tag).toMatch(/^"[\w-]+"$/);
    const again = await call(t.app, { url: `/fact-checks/${published}`, headers: { 'if-none-match': tag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    await must(t, published, 'correct', t.as.editor, { note: 'The date of the footage was wrong' });
    const corrected = await call(t.app, { url: `/fact-checks/${published}`, headers: { 'if-none-match': tag } });
    expect(corrected.statusCode).toBe(200);
    expect(corrected.headers.etag).not.toBe(tag);
    expect(corrected.body).toContain('The date of the footage was wrong');
    expect(JSON.parse(jsonLdOf(corrected.body)[0]!).dateModified).toBeTruthy();
  });

  it('escapes every piece of user text, in the HTML and in the JSON-LD', async () => {
    const page = await call(t.app, { url: `/fact-checks/${hostile}` });
    expect(page.statusCode).toBe(200);
    expect(page.body.match(/<script/g)).toHaveLength(1); // the JSON-LD block only
    // Outside the JSON-LD block (where a quote is JSON-escaped and `<` is \u003c): no markup from the claim.
    const markup = page.body.replace(/<script type="application\/ld\+json">[\s\S]*?<\/script>/, '');
    expect(markup).not.toMatch(/<img|<svg|<b>|<i>|onerror="|"onmouseover/);
    expect(page.body).toContain('&lt;img src=x onerror=&quot;alert(2)&quot;&gt;');
    expect(page.body).toContain('a&quot;onmouseover=alert(3)');
    const [block] = jsonLdOf(page.body);
    expect(block).not.toMatch(/[<>&\u2028]/);
    const review = JSON.parse(block!);
    // The same document the API gives (which normalises whitespace), markup and all, as text.
    const api = await call(t.app, { url: `/claims/${hostile}/claim-review`, headers: t.as.auditor });
    expect(review.claimReviewed).toBe(api.json.claimReviewed);
    expect(review.claimReviewed).toContain('</script><script>alert(1)</script>');
    expect(review.author).toEqual(api.json.author);
    const list = await call(t.app, { url: '/fact-checks' });
    expect(list.body).not.toMatch(/<script|<img/);
    expect(list.body).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('lists published and retracted fact-checks newest first; a retraction is said on the page, with no JSON-LD', async () => {
    const retracted = await publish(t, { text: 'Retracted one about Kursk' });
    await must(t, retracted, 'retract', t.as.editor, { reason: 'The source was <fabricated>' });
    const list = await call(t.app, { url: '/fact-checks' });
    expect(list.statusCode).toBe(200);
    const order = [retracted, hostile, published].map((id) => list.body.indexOf(`/fact-checks/${id}`));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const page = await call(t.app, { url: `/fact-checks/${retracted}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('This fact-check was retracted');
    expect(page.body).toContain('The source was &lt;fabricated&gt;');
    expect(jsonLdOf(page.body)).toEqual([]);
  });

  it('answers an unpublished, rejected or reopened claim exactly like an unknown id', async () => {
    const draft = await createClaim(t);
    const rejected = await createClaim(t);
    await must(t, rejected.id, 'reject', t.as.editor, { reason: 'not check-worthy' });
    const reopened = await publish(t, { text: 'Reopened one' });
    await must(t, reopened, 'reopen', t.as.editor, { reason: 'new footage' });
    const unknown = await call(t.app, { url: '/fact-checks/00000000-0000-4000-8000-000000000000' });
    expect(unknown.statusCode).toBe(404);
    for (const id of [draft.id, rejected.id, reopened, 'not-a-uuid', '%3Cscript%3E', 'x'.repeat(300)]) {
      const page = await call(t.app, { url: `/fact-checks/${id}` });
      expect(page.statusCode, id).toBe(404);
      expect(page.body, id).toBe(unknown.body);
      expect(page.headers.etag, id).toBe(unknown.headers.etag);
    }
    const list = await call(t.app, { url: '/fact-checks' });
    for (const id of [draft.id, rejected.id, reopened]) expect(list.body).not.toContain(id);
    expect((await call(t.app, { url: '/fact-checks?cursor=bogus!' })).statusCode).toBe(404);
    expect((await call(t.app, { url: '/fact-checks?cursor=a&cursor=b' })).statusCode).toBe(404);
  });

  it('lists by publication, not creation, and pages through every public fact-check exactly once', async () => {
    // Created first, published last: it leads the list.
    const early = await createClaim(t, t.as.fact_checker, { text: 'Created early, published late' });
    const late = await publish(t, { text: 'Created late, published early' });
    await must(t, early.id, 'triage', t.as.editor);
    await must(t, early.id, 'assign', t.as.editor, { assignee: 'demo-fact-checker' });
    await must(t, early.id, 'evidence', t.as.fact_checker, { summary: 'source', stance: 'supports' });
    await must(t, early.id, 'verdict', t.as.fact_checker, { rating: 'true', rationale: 'checked' });
    await must(t, early.id, 'submit', t.as.fact_checker);
    await must(t, early.id, 'publish', t.as.editor);
    for (let i = 0; i < 18; i++) await publish(t, { text: `Filler fact-check ${i}` });

    const seen: string[] = [];
    let url: string | null = '/fact-checks';
    while (url) {
      const page = await call(t.app, { url });
      expect(page.statusCode, url).toBe(200);
      seen.push(...[...page.body.matchAll(/<a class="item__claim" href="\/fact-checks\/([0-9a-f-]{36})"/g)].map((m) => m[1]!));
      const next = /href="(\/fact-checks\?cursor=[^"]+)"/.exec(page.body);
      url = next ? next[1]! : null;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const published = await call(t.app, { url: '/claims?state=published,retracted&limit=100', headers: t.as.auditor });
    expect(new Set(seen)).toEqual(new Set((published.json.items as { id: string }[]).map((c) => c.id)));
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.indexOf(early.id)).toBeLessThan(seen.indexOf(late));
    const views = await Promise.all(seen.map(async (id) => (await call(t.app, { url: `/claims/${id}`, headers: t.as.auditor })).json));
    const times = views.map((v: { publishedVerdict: { publishedAt: string } }) => v.publishedVerdict.publishedAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('refuses a cursor it did not make, and serves its stylesheet', async () => {
    for (const cursor of ['bogus!', Buffer.from('2024-01-01T00:00:00Z|x').toString('base64url'), Buffer.from("2024-01-01T00:00:00Z|00000000-0000-4000-8000-000000000000|'; drop").toString('base64url')]) {
      expect((await call(t.app, { url: `/fact-checks?cursor=${cursor}` })).statusCode, cursor).toBe(404);
    }
    const css = await call(t.app, { url: '/assets/fact-checks.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
  });
});
