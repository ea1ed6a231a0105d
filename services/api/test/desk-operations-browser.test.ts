/**
 * The desk's operations views in a real browser (Debian's chromium through playwright-core):
 * the notifications bell follows the `me` channel live (a note mentioning the editor makes
 * the count go up without a reload; the panel lists it; marking it read brings the count
 * down); a claim's page lists its other spelling (Tyotkino / Тёткино) as a possible
 * duplicate with a merge action for an editor, and the submit page shows duplicates right
 * after a submission; the analytics page renders for an editor and is not offered to a
 * fact-checker; axe-core finds no serious or critical violation on the panel and the
 * analytics page. One browser for the file; screenshots in test-results/desk-operations/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildBoard, boardDistDir } from '../src/board/build.ts';
import { startInstance, type Instance } from './live-support.ts';
import { expectAccessible, hasChromium, launchBrowser, recordProblems } from './browser-support.ts';

const pg = await requirePostgres();
const shots = fileURLToPath(new URL('../../../test-results/desk-operations/', import.meta.url));
const WAIT = { timeout: 20_000 };
const SLOW = 90_000;

type Role = keyof Instance['tokens'];

describe.skipIf(!pg || !hasChromium)('desk operations in a browser', () => {
  let db: TestDatabase;
  let instance: Instance;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(`${boardDistDir}app.js`)) await buildBoard();
    db = await createTestDatabase('desk_ops_ui');
    instance = await startInstance(db.url);
    browser = await launchBrowser();
    await mkdir(shots, { recursive: true });
  });
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await instance?.close();
    await db?.drop();
  });

  /** A signed-in page in a context of its own, recording script errors and CSP violations. */
  async function signedIn(role: Role, path = '/'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await recordProblems(page, problems);
    await page.goto(instance.url + path);
    await page.fill('#token', instance.tokens[role]);
    await page.press('#token', 'Enter');
    await page.locator(`#whoami[data-role="${role}"]`).waitFor(WAIT);
    return page;
  }

  const count = (page: Page) => page.locator('#bell-count').getAttribute('data-count').then(Number);

  it('a note mentioning the editor raises the bell live; the panel lists it; marking it read lowers it', async () => {
    const editorId = (await (await fetch(`${instance.url}/me`, { headers: { authorization: `Bearer ${instance.tokens.editor}` } })).json() as { id: string }).id;
    const page = await signedIn('editor');
    await page.locator('#connection[data-status="open"]').waitFor(WAIT);
    await page.locator('#bell-count').waitFor(WAIT);
    const before = await count(page);

    const admin = instance.client('admin');
    const claim = await admin.createClaim({ text: 'A bridge in Kherson was destroyed overnight' } as never);
    await admin.addNote(claim.id, { body: `@${editorId} can you look at the photos?` });

    await expect.poll(() => count(page), WAIT).toBe(before + 1);
    expect(page.url()).toBe(`${instance.url}/`); // no reload, no navigation
    await page.click('#bell');
    const item = page.locator(`#notifications li[data-kind="mentioned"].notification--unread`);
    await item.waitFor(WAIT);
    expect(await item.textContent()).toContain('mentioned you in a note: @');
    expect(await item.locator('a').getAttribute('href')).toBe(`/desk/claims/${claim.id}`);
    await expectAccessible(page, 'notifications panel');
    await page.screenshot({ path: `${shots}notifications-panel.png` });

    await item.locator('[data-mark-read]').click();
    await expect.poll(() => count(page), WAIT).toBe(before);
    await page.locator(`#notifications li[data-kind="mentioned"]:not(.notification--unread)`).waitFor(WAIT);
    expect(problems).toEqual([]);
  }, SLOW);

  it('a Tyotkino claim lists its Тёткино spelling as a possible duplicate, with merge for an editor; submit shows duplicates at once', async () => {
    const editor = instance.client('editor');
    const latin = await editor.createClaim({ text: 'Legion fighters took full control of the village of Tyotkino', claimant: 'Freedom of Russia Legion' } as never);
    const cyrillic = await editor.createClaim({ text: 'Legion fighters took full control of the village of Тёткино', claimant: 'Freedom of Russia Legion' } as never);

    const page = await signedIn('editor', `/desk/claims/${latin.id}`);
    const suggestion = page.locator(`#similar li[data-similar-id="${cyrillic.id}"]`);
    await suggestion.waitFor(WAIT);
    expect(await suggestion.locator('a').getAttribute('href')).toBe(`/desk/claims/${cyrillic.id}`);
    expect(await suggestion.locator('.similar__score').textContent()).toMatch(/score 0\.\d\d|score 1\.00/);
    await page.screenshot({ path: `${shots}possible-duplicates.png` });
    // The editor may merge a submitted claim: merging it into the suggestion merges it.
    await suggestion.locator(`[data-merge-suggestion="${cyrillic.id}"]`).click();
    await page.locator('.claim__header .state-badge[data-state="merged"]').waitFor(WAIT);
    expect((await editor.getClaim(latin.id)).mergedInto).toBe(cyrillic.id);

    // A fact-checker may not merge: the suggestion is listed without the action.
    const fc = await signedIn('fact_checker', `/desk/new`);
    await fc.fill('#new-text', 'Volunteers say they hold Tjotkino village again');
    await fc.click('#submit-claim button[type="submit"]');
    await fc.locator(`#submitted #similar li[data-similar-id="${cyrillic.id}"]`).waitFor(WAIT);
    const submittedId = await fc.locator('#submitted').getAttribute('data-claim-id');
    await fc.click('#open-submitted');
    await fc.waitForURL(`${instance.url}/desk/claims/${submittedId}`, WAIT);
    await fc.locator(`#similar li[data-similar-id="${cyrillic.id}"]`).waitFor(WAIT);
    expect(await fc.locator('[data-merge-suggestion]').count()).toBe(0);
    expect(problems).toEqual([]);
  }, SLOW);

  it('the analytics page renders for an editor and is not offered to a fact-checker', async () => {
    const page = await signedIn('editor');
    await page.click('nav a[href="/desk/stats"]');
    await page.locator('#figure-cycle-p50 .figure__value').waitFor(WAIT);
    await page.locator('#chart-time-in-state').waitFor(WAIT);
    // The claims of the tests above were submitted and merged: their publications count is 0.
    expect(await page.locator('#figure-published .figure__value').textContent()).toBe('0');
    await page.click('.period__quick [data-days="7"]');
    await page.locator('#figure-published .figure__value').waitFor(WAIT);
    await expectAccessible(page, 'stats page');
    await page.screenshot({ path: `${shots}stats.png`, fullPage: true });

    const fc = await signedIn('fact_checker');
    expect(await fc.locator('nav a[href="/desk/stats"]').count()).toBe(0);
    await fc.goto(`${instance.url}/desk/stats`);
    await fc.locator('#cannot-stats').waitFor(WAIT);
    expect(problems).toEqual([]);
  }, SLOW);

  it('an overdue claim carries an "Overdue" badge on the board, and "Overdue only" lists it', async () => {
    const editor = instance.client('editor');
    const late = await editor.createClaim({ text: 'A claim nobody has looked at for a day' } as never);
    // The desk's clock just past the claim's due instant (a submitted claim's default deadline is 24 h).
    const lateDue = Date.parse(late.createdAt) + 24 * 3_600_000;
    instance.app.desk.setClock(() => new Date(lateDue + 1));
    try {
      await instance.app.desk.catchUp();
      const page = await signedIn('editor');
      const card = page.locator(`.column[data-state="submitted"] [data-claim-id="${late.id}"]`);
      await card.locator('.badge--overdue').waitFor(WAIT);
      expect(await card.locator('.badge--overdue').textContent()).toBe('Overdue');
      await page.check('#filter-overdue');
      await page.waitForURL(/overdue=1/, WAIT);
      await page.locator(`#board [data-claim-id="${late.id}"] .badge--overdue`).waitFor(WAIT);
      await page.screenshot({ path: `${shots}overdue.png` });
      const shown = await page.locator('#board [data-claim-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-claim-id')));
      expect(shown).toContain(late.id);
      // Every claim shown under "Overdue only" is one GET /claims?overdue=true lists.
      const listed = (await editor.listClaims({ overdue: true, limit: 100 } as never)).items.map((c) => c.id);
      expect(shown.every((id) => listed.includes(id!))).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      instance.app.desk.setClock(() => new Date());
    }
  }, SLOW);
});
