/**
 * The desk in a real browser (Debian's chromium through playwright-core), driven from the
 * page alone: each role's whole flow (a fact-checker submits, an editor triages and
 * assigns, the fact-checker researches, drafts and submits, the editor publishes, the
 * public page shows the fact-check with valid ClaimReview JSON-LD, an auditor walks the
 * history, travels through versions and verifies); two browsers at once; the board at three
 * sizes with no clipped card and every badge visible; axe-core with no serious or critical
 * violation; a claim full of markup shown as text everywhere. One browser for the file.
 * Screenshots in test-results/desk/ (gitignored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildBoard, boardDistDir } from '../src/board/build.ts';
import { startInstance, type Instance } from './live-support.ts';
import { expectAccessible, hasChromium, launchBrowser, recordProblems } from './browser-support.ts';

const pg = await requirePostgres();
const shots = fileURLToPath(new URL('../../../test-results/desk/', import.meta.url));
const WAIT = { timeout: 20_000 };

type Role = keyof Instance['tokens'];

interface Watched {
  page: Page;
  context: BrowserContext;
  problems: string[];
}

describe.skipIf(!pg || !hasChromium)('the desk in a browser', () => {
  let db: TestDatabase;
  let instance: Instance;
  let browser: Browser;

  beforeAll(async () => {
    // `npm test` builds first; a lone run of this file builds the bundle itself.
    if (!existsSync(`${boardDistDir}app.js`)) await buildBoard();
    db = await createTestDatabase('desk_ui');
    instance = await startInstance(db.url, {}, { seed: true });
    browser = await launchBrowser();
    await mkdir(shots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await instance?.close();
    await db?.drop();
  });

  /** A page in a context of its own (its own sessionStorage: another person's browser) that records CSP violations and script errors. */
  async function open(viewport = { width: 1280, height: 900 }): Promise<Watched> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const problems: string[] = [];
    await recordProblems(page, problems);
    return { page, context, problems };
  }

  /** Signs in on the page with a role's token, from the sign-in form. */
  async function signIn(page: Page, role: Role, path = '/'): Promise<void> {
    await page.goto(instance.url + path);
    await page.fill('#token', instance.tokens[role]);
    await page.press('#token', 'Enter');
    await page.locator(`#whoami[data-role="${role}"]`).waitFor(WAIT);
  }

  async function openClaim(page: Page, id: string): Promise<void> {
    await page.goto(`${instance.url}/desk/claims/${id}`);
    await page.locator(`article.claim[data-claim-id="${id}"]`).waitFor(WAIT);
  }

  /** Takes a step from the page: its button, its form's fields, its submit. */
  async function takeStep(page: Page, step: string, fields: Record<string, string> = {}): Promise<void> {
    const version = Number(await page.locator('article.claim').getAttribute('data-version'));
    await page.click(`[data-step="${step}"]`);
    const form = page.locator(`[data-form="${step}"]`);
    await form.waitFor(WAIT);
    for (const [name, value] of Object.entries(fields)) {
      const field = form.locator(`[name="${name}"]`);
      if ((await field.evaluate((el) => el.tagName)) === 'SELECT') await field.selectOption(value);
      else await field.fill(value);
    }
    await form.locator('button[type="submit"]').click();
    await page.locator(`article.claim[data-version="${version + 1}"]`).waitFor(WAIT);
  }

  async function state(page: Page): Promise<string | null> {
    return page.locator('.claim__header .state-badge').getAttribute('data-state');
  }

  let publishedId = '';
  /** One browser per person for the whole flow, kept across its steps. */
  let fc: Watched;
  let editor: Watched;
  let auditor: Watched;
  let reader: Watched;
  /** Browser tests wait on live delivery; under a full suite on two cores a step can take long. */
  const SLOW = 120_000;

  it('the flow, 1: a fact-checker submits a claim with an appearance from the form', async () => {
    fc = await open();
    editor = await open();
    auditor = await open();
    reader = await open();
    await signIn(fc.page, 'fact_checker');
    expect(await fc.page.locator('#role-help').textContent()).toMatch(/fact-checker you can submit claims/);
    await fc.page.click('nav a[href="/desk/new"]');
    await fc.page.fill('#new-text', 'The Legion holds the village of Tyotkino in the Kursk region');
    await fc.page.fill('#new-claimant', 'Freedom of Russia Legion');
    await fc.page.fill('#new-tags', 'kursk, incursion');
    await fc.page.fill('#a0-url', 'https://t.me/legionofliberty/1234');
    await fc.page.fill('#a0-outlet', 'Telegram');
    await fc.page.click('#submit-claim button[type="submit"]');
    // The seed has claims about Tyotkino: the submitter is shown them first, then opens the new claim.
    await fc.page.locator('#submitted #similar li').first().waitFor(WAIT);
    await fc.page.click('#open-submitted');
    await fc.page.waitForURL(/\/desk\/claims\/[0-9a-f-]{36}$/, WAIT);
    publishedId = /claims\/([0-9a-f-]{36})/.exec(fc.page.url())![1]!;
    await fc.page.locator('article.claim').waitFor(WAIT);
    expect(await state(fc.page)).toBe('submitted');
    expect(await fc.page.locator('#appearances').textContent()).toContain('https://t.me/legionofliberty/1234');
    // A fact-checker is offered exactly what the policy allows on a submitted claim.
    await expect.poll(() => fc.page.locator('[data-step]').evaluateAll((els) => els.map((e) => e.getAttribute('data-step'))), WAIT).toEqual(['add_evidence', 'add_note']);
    await fc.page.screenshot({ path: `${shots}1-fact-checker-submitted.png` });
  }, SLOW);

  it('the flow, 2: an editor triages it and assigns it from the people picker', async () => {
    const id = publishedId;
    // The demo token on loopback is the editor's.
    await editor.page.goto(instance.url + '/');
    await editor.page.locator('#whoami[data-role="editor"]').waitFor(WAIT);
    await editor.page.locator(`.column[data-state="submitted"] [data-claim-id="${id}"] a`).click();
    await editor.page.locator(`article.claim[data-claim-id="${id}"]`).waitFor(WAIT);
    await takeStep(editor.page, 'triage');
    expect(await state(editor.page)).toBe('triaged');
    await editor.page.click('[data-step="assign"]');
    await editor.page.fill('#people-filter', 'fact');
    await editor.page.click('[data-assign="demo-fact-checker"]');
    await editor.page.locator('.claim__header .state-badge[data-state="in_research"]').waitFor(WAIT);
    expect(await editor.page.locator('#claim-assignee').textContent()).toBe('demo-fact-checker');
    await editor.page.screenshot({ path: `${shots}2-editor-assigned.png` });
  }, SLOW);

  it('the flow, 3: the fact-checker, following live, adds evidence, a note and a verdict and submits it for review', async () => {
    await fc.page.locator('.claim__header .state-badge[data-state="in_research"]').waitFor(WAIT);
    await takeStep(fc.page, 'add_evidence', { summary: 'The Kursk governor: no breakthrough at Tyotkino', stance: 'refutes', url: 'https://example.org/governor' });
    await takeStep(fc.page, 'add_note', { body: 'Call the regional press office' });
    await takeStep(fc.page, 'draft_verdict', { rating: 'false', rationale: 'Footage geolocated to Belgorod; the governor denies it' });
    await takeStep(fc.page, 'submit_for_review');
    expect(await state(fc.page)).toBe('in_review');
    await expect.poll(() => fc.page.locator('[data-step]').evaluateAll((els) => els.map((e) => e.getAttribute('data-step'))), WAIT).toEqual(['add_note']);
    await fc.page.screenshot({ path: `${shots}3-fact-checker-in-review.png`, fullPage: true });
  }, SLOW);

  it('the flow, 4: the editor publishes it; the public page shows it with valid ClaimReview JSON-LD', async () => {
    const id = publishedId;
    await editor.page.locator('[data-step="publish"]').waitFor(WAIT);
    await takeStep(editor.page, 'publish');
    expect(await state(editor.page)).toBe('published');
    await expect.poll(() => editor.page.locator('#claim-review').textContent(), WAIT).toContain('"ClaimReview"');
    await editor.page.screenshot({ path: `${shots}4-editor-published.png`, fullPage: true });

    // No token: the list links to the page, which carries the JSON-LD with its own URL.
    await reader.page.goto(`${instance.url}/fact-checks`);
    await reader.page.click(`a[href="/fact-checks/${id}"]`);
    await reader.page.waitForURL(`${instance.url}/fact-checks/${id}`);
    expect(await reader.page.locator('h1.claim').textContent()).toBe('The Legion holds the village of Tyotkino in the Kursk region');
    const review = await reader.page.evaluate(() => JSON.parse(document.querySelector('script[type="application/ld+json"]')!.textContent!) as Record<string, unknown>);
    expect(review['@type']).toBe('ClaimReview');
    expect(review.url).toBe(`${instance.url}/fact-checks/${id}`);
    expect((review.reviewRating as { alternateName: string }).alternateName).toMatch(/false/i);
    await reader.page.screenshot({ path: `${shots}5-public-page.png`, fullPage: true });
  }, SLOW);

  it('the flow, 5: an auditor opens the history, travels through versions, verifies, downloads the export', async () => {
    const id = publishedId;
    await signIn(auditor.page, 'auditor', `/desk/claims/${id}`);
    await auditor.page.locator('article.claim').waitFor(WAIT);
    expect(await auditor.page.locator('[data-step]').count()).toBe(0);
    const rows = auditor.page.locator('#history tbody tr');
    expect(await rows.count()).toBe(8);
    expect(await rows.nth(0).textContent()).toContain('ClaimSubmitted');
    expect(await rows.nth(7).locator('code').getAttribute('title')).toMatch(/^[0-9a-f]{64}$/);
    await auditor.page.click('#travel-prev');
    await auditor.page.locator('.claim__header .state-badge[data-state="in_review"]').waitFor(WAIT);
    expect(await auditor.page.locator('#travel-label').textContent()).toMatch(/^Showing version 7 of 8/);
    expect(auditor.page.url()).toContain('?version=7');
    await auditor.page.click('#history a[href$="?version=1"]');
    await auditor.page.locator('.claim__header .state-badge[data-state="submitted"]').waitFor(WAIT);
    expect(await auditor.page.locator('#claim-assignee').textContent()).toBe('nobody');
    await auditor.page.click('#travel-next');
    await auditor.page.locator('.claim__header .state-badge[data-state="triaged"]').waitFor(WAIT);
    // A deep link to a version opens as it was.
    await auditor.page.goto(`${instance.url}/desk/claims/${id}?version=3`);
    await auditor.page.locator('.claim__header .state-badge[data-state="in_research"]').waitFor(WAIT);
    await auditor.page.screenshot({ path: `${shots}6-auditor-time-travel.png`, fullPage: true });
    await auditor.page.click('#travel-latest');
    await auditor.page.click('#verify-claim');
    await expect.poll(() => auditor.page.locator('#verify-result').textContent(), WAIT).toMatch(/^Verified: 8 events/);
    await auditor.page.click('nav a[href="/desk/audit"]');
    await auditor.page.locator('#feed tbody tr').first().waitFor(WAIT);
    await auditor.page.click('#verify-log');
    await expect.poll(() => auditor.page.locator('#verify-log-result').textContent(), WAIT).toMatch(/^The log verifies/);
    const download = auditor.page.waitForEvent('download');
    await auditor.page.click('#export-log');
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/\.ndjson$/);
    const lines = readFileSync((await file.path())!, 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { claimId: string }).claimId)).toContain(id);
    await auditor.page.screenshot({ path: `${shots}7-auditor-log.png` });

    for (const w of [fc, editor, auditor, reader]) {
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
  }, SLOW);

  it('a stale write says so and reloads; the policy keeps publish from the drafter', async () => {
    const editor = await open();
    // The page's live frames pass through here, so that they can be held back: the page
    // then still shows the old version when it writes (as when a frame is in flight).
    let hold = false;
    await editor.page.routeWebSocket((url) => url.pathname === "/ws", (socket) => {
      const server = socket.connectToServer();
      socket.onMessage((message) => server.send(message));
      server.onMessage((message) => {
        if (!hold) socket.send(message);
      });
    });
    await signIn(editor.page, 'editor', `/desk/claims/${publishedId}`);
    await editor.page.locator('[data-step="retract"]').waitFor(WAIT);
    const before = Number(await editor.page.locator('article.claim').getAttribute('data-version'));
    await editor.page.click('[data-step="retract"]');
    hold = true;
    await instance.client('admin').addNote(publishedId, { body: 'meanwhile, from someone else' });
    await editor.page.fill('[data-form="retract"] [name="reason"]', 'testing a stale write');
    await editor.page.locator('[data-form="retract"] button[type="submit"]').click();
    const message = editor.page.locator('#claim-message');
    await message.waitFor(WAIT);
    expect(await message.textContent()).toMatch(/changed this claim while you were looking at it: it has been reloaded/);
    await editor.page.locator(`article.claim[data-version="${before + 1}"]`).waitFor(WAIT);
    expect(await state(editor.page)).toBe('published');
    expect(await editor.page.locator('#notes').textContent()).toContain('meanwhile, from someone else');
    hold = false;

    // The author of a draft cannot publish it: the refusal's detail is shown.
    const admin = await open();
    const api = instance.client('admin');
    const claim = await api.createClaim({ text: 'A draft by an admin' });
    await api.triage(claim.id);
    await api.assign(claim.id, { assignee: 'demo-fact-checker' });
    await api.addEvidence(claim.id, { summary: 'source', stance: 'supports' });
    await api.draftVerdict(claim.id, { rating: 'true', rationale: 'checked' });
    await api.submit(claim.id);
    await signIn(admin.page, 'admin', `/desk/claims/${claim.id}`);
    await admin.page.locator('article.claim').waitFor(WAIT);
    // The policy (four eyes) keeps publish from the drafter: it is not offered at all.
    expect(await admin.page.locator('[data-step="publish"]').count()).toBe(0);
    expect(await admin.page.locator('[data-step="request_changes"]').count()).toBe(1);
    await takeStep(admin.page, 'request_changes', { reason: 'tighten the rationale' });
    expect(await state(admin.page)).toBe('in_research');
    for (const w of [editor, admin]) {
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
  }, SLOW);

  it('two browsers at once: what one does shows in the other without a reload', async () => {
    const a = await open();
    const b = await open();
    await a.page.goto(instance.url + '/');
    await a.page.locator('#connection[data-status="open"]').waitFor(WAIT);
    await signIn(b.page, 'fact_checker', '/desk/new');
    await b.page.fill('#new-text', 'Seen in the other browser');
    await b.page.click('#submit-claim button[type="submit"]');
    await b.page.waitForURL(/\/desk\/claims\//, WAIT);
    const id = /claims\/([0-9a-f-]{36})/.exec(b.page.url())![1]!;
    // A's board shows the new card, and its count follows.
    await a.page.locator(`.column[data-state="submitted"] [data-claim-id="${id}"]`).waitFor(WAIT);
    await a.page.locator(`[data-claim-id="${id}"] a`).click();
    await a.page.locator(`article.claim[data-claim-id="${id}"]`).waitFor(WAIT);
    // A (editor) triages; B's claim page follows.
    await takeStep(a.page, 'triage');
    await b.page.locator('.claim__header .state-badge[data-state="triaged"]').waitFor(WAIT);
    // B adds a note; A sees it.
    await b.page.locator('article.claim[data-version="2"]').waitFor(WAIT);
    await takeStep(b.page, 'add_note', { body: 'Note from the other browser' });
    await expect.poll(() => a.page.locator('#notes').textContent(), WAIT).toContain('Note from the other browser');
    for (const w of [a, b]) {
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
  }, SLOW);

  it('the board at 1280×720, 1440×900 and 390×844: no clipped card, every badge visible, every column reachable', async () => {
    const w = await open({ width: 1280, height: 720 });
    await w.page.goto(instance.url + '/');
    await w.page.locator('#connection[data-status="open"]').waitFor(WAIT);
    await w.page.locator('.card').first().waitFor(WAIT);
    for (const viewport of [
      { width: 1280, height: 720 },
      { width: 1440, height: 900 },
      { width: 390, height: 844 },
    ]) {
      await w.page.setViewportSize(viewport);
      const report = await w.page.evaluate(() => {
        const problems: string[] = [];
        const doc = document.documentElement;
        if (doc.scrollWidth > doc.clientWidth + 1) problems.push(`page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
        const columns = [...document.querySelectorAll<HTMLElement>('.column')];
        for (const column of columns) {
          const box = column.getBoundingClientRect();
          if (box.left < 0 || box.right > doc.clientWidth + 1) problems.push(`column ${column.dataset.state} off-screen: ${box.left}–${box.right}`);
        }
        const cards = [...document.querySelectorAll<HTMLElement>('.card')];
        for (const card of cards) {
          const id = card.dataset.claimId;
          if (card.scrollHeight > card.clientHeight + 1 || card.scrollWidth > card.clientWidth + 1) problems.push(`card ${id} clips its content`);
          const box = card.getBoundingClientRect();
          const list = card.closest('.column')!.getBoundingClientRect();
          if (box.left < list.left - 1 || box.right > list.right + 1) problems.push(`card ${id} sticks out of its column`);
          if (box.height < 30) problems.push(`card ${id} squashed to ${box.height}px`);
          for (const part of card.querySelectorAll<HTMLElement>('.badge, .card__text, .card__age')) {
            const b = part.getBoundingClientRect();
            const style = getComputedStyle(part);
            if (b.width < 1 || b.height < 1 || style.visibility === 'hidden' || style.display === 'none') problems.push(`card ${id}: ${part.className} not visible`);
            if (b.left < box.left - 1 || b.right > box.right + 1 || b.top < box.top - 1 || b.bottom > box.bottom + 1) problems.push(`card ${id}: ${part.className} outside the card`);
          }
        }
        return { problems, columns: columns.length, cards: cards.length, badges: document.querySelectorAll('.card .badge').length };
      });
      expect(report.problems, `${viewport.width}×${viewport.height}`).toEqual([]);
      expect(report.columns).toBe(8);
      expect(report.cards).toBeGreaterThan(10);
      expect(report.badges).toBeGreaterThan(3);
      await w.page.screenshot({ path: `${shots}board-${viewport.width}x${viewport.height}.png`, fullPage: true });
    }
    // Filters live in the URL: a deep link to one state, searched, counts what matches.
    await w.page.setViewportSize({ width: 1280, height: 720 });
    await w.page.goto(`${instance.url}/?state=published&q=Tyotkino`);
    await w.page.locator('.column[data-state="published"] .card').first().waitFor(WAIT);
    expect(await w.page.locator('.column').count()).toBe(1);
    const matching = await instance.client('auditor').listClaims({ state: ['published'], q: 'Tyotkino', limit: 100 });
    expect(await w.page.locator('.column[data-state="published"] .column__count').textContent()).toBe(String(matching.items.length));
    expect(await w.page.locator('#total').textContent()).toBe(String(matching.items.length));
    expect(await w.page.inputValue('#search')).toBe('Tyotkino');
    await w.page.click('#clear-filters');
    await w.page.waitForURL(`${instance.url}/`);
    expect(await w.page.locator('.column').count()).toBe(8);
    expect(w.problems).toEqual([]);
    await w.context.close();
  }, SLOW);

  it('axe-core finds no serious or critical violation on the board, a claim, the audit view and the public pages', async () => {
    const w = await open({ width: 1280, height: 900 });
    await w.page.goto(instance.url + '/');
    await w.page.locator('.card').first().waitFor(WAIT);
    await expectAccessible(w.page, 'board');
    await openClaim(w.page, publishedId);
    await w.page.click('[data-step="add_note"]');
    await expectAccessible(w.page, 'claim with a step form');
    await w.page.click('nav a[href="/desk/audit"]');
    await w.page.locator('#feed tbody tr').first().waitFor(WAIT);
    await expectAccessible(w.page, 'audit');
    await w.page.goto(instance.url + '/desk/new');
    await w.page.locator('#submit-claim').waitFor(WAIT);
    await expectAccessible(w.page, 'new claim');
    await w.page.goto(`${instance.url}/fact-checks`);
    await expectAccessible(w.page, 'public list');
    await w.page.goto(`${instance.url}/fact-checks/${publishedId}`);
    await expectAccessible(w.page, 'public page');
    await w.page.setViewportSize({ width: 390, height: 844 });
    await w.page.goto(instance.url + '/');
    await w.page.locator('.card').first().waitFor(WAIT);
    await expectAccessible(w.page, 'board on a phone');
    expect(w.problems).toEqual([]);
    await w.context.close();
  }, SLOW);

  it('a claim full of markup is shown as text everywhere, the public pages included', async () => {
    const markup = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> Tyotkino`;
    const api = instance.client('editor');
    const fcApi = instance.client('fact_checker');
    const claim = await fcApi.createClaim({ text: markup, claimant: `<img src=x onerror="window.__xss = 3">`, tags: ['markup'], appearances: [{ title: '<b onmouseover="window.__xss=4">t</b>', url: 'https://example.org/a' }] });
    await api.triage(claim.id);
    await api.assign(claim.id, { assignee: 'demo-fact-checker' });
    await fcApi.addEvidence(claim.id, { summary: '<svg onload="window.__xss=5">', stance: 'refutes', url: 'https://example.org/e' });
    await fcApi.addNote(claim.id, { body: '<iframe src="javascript:window.__xss=6"></iframe>' });
    await fcApi.draftVerdict(claim.id, { rating: 'false', rationale: '<script>window.__xss=7</script>' });
    await fcApi.submit(claim.id);
    await api.publish(claim.id);

    const w = await open();
    const check = async (where: string, textSelector: string) => {
      expect(await w.page.evaluate(() => (window as unknown as { __xss?: number }).__xss), where).toBeUndefined();
      expect(await w.page.locator('main img, main svg, main iframe, main b[onmouseover]').count(), where).toBe(0);
      expect(await w.page.locator(textSelector).first().textContent(), where).toContain('<img src=x onerror="window.__xss = 2">');
    };
    await w.page.goto(instance.url + '/?q=Tyotkino');
    await w.page.locator(`[data-claim-id="${claim.id}"]`).waitFor(WAIT);
    await check('board', `[data-claim-id="${claim.id}"] .card__text`);
    await openClaim(w.page, claim.id);
    await w.page.locator('#notes').waitFor(WAIT);
    await check('claim', '#claim-text');
    expect(await w.page.locator('#evidence').textContent()).toContain('<svg onload="window.__xss=5">');
    expect(await w.page.locator('#notes').textContent()).toContain('<iframe');
    await w.page.goto(`${instance.url}/fact-checks/${claim.id}`);
    await check('public page', 'h1.claim');
    expect(await w.page.locator('.rationale').textContent()).toBe('<script>window.__xss=7</script>');
    const review = await w.page.evaluate(() => JSON.parse(document.querySelector('script[type="application/ld+json"]')!.textContent!) as { claimReviewed: string });
    expect(review.claimReviewed).toContain('<script>window.__xss = 1</script>');
    await w.page.goto(`${instance.url}/fact-checks`);
    await check('public list', `a[href="/fact-checks/${claim.id}"]`);
    await w.page.screenshot({ path: `${shots}markup-public-list.png`, fullPage: true });
    expect(w.problems).toEqual([]);
    await w.context.close();
  }, SLOW);
});
