/**
 * The live board in a real browser (Debian's chromium through playwright-core): on
 * loopback the page picks up the demo editor token, shows the seeded case by state, and a
 * card moves columns when a workflow step is performed through the API; a refused token is
 * said plainly; a page reached under a foreign name (DNS rebinding, mapped to 127.0.0.1
 * by the browser's resolver) gets no token and asks for one. No page (board or docs) may
 * raise a Content-Security-Policy violation. Screenshot in test-results/board.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildBoard, boardDistDir } from '../src/board/build.ts';
import { startInstance, type Instance } from './live-support.ts';
import { hasChromium, launchBrowser, recordProblems } from './browser-support.ts';

const pg = await requirePostgres();
const resultsDir = fileURLToPath(new URL('../../../test-results/', import.meta.url));
/** A foreign name the browser resolves to 127.0.0.1, as a rebinding attacker's DNS would. */
const FOREIGN_HOST = 'rebound.evil.example';

/** A page that records CSP violations (DOM event and console report) and script errors. */
async function watchedPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1680, height: 940 } });
  const problems: string[] = [];
  await recordProblems(page, problems);
  return { page, problems };
}

async function storedValues(page: Page): Promise<string[]> {
  return page.evaluate(() => [localStorage, sessionStorage].flatMap((s) => Object.keys(s).map((k) => s.getItem(k) ?? '')));
}

describe.skipIf(!pg || !hasChromium)('board page in a browser', () => {
  let db: TestDatabase;
  let instance: Instance;
  let browser: Browser;

  beforeAll(async () => {
    // `npm test` builds first; a lone run of this file builds the bundle itself.
    if (!existsSync(`${boardDistDir}app.js`)) await buildBoard();
    db = await createTestDatabase('board_ui');
    instance = await startInstance(db.url, {}, { seed: true });
    browser = await launchBrowser([`--host-resolver-rules=MAP ${FOREIGN_HOST} 127.0.0.1`]);
  });
  afterAll(async () => {
    await browser?.close();
    await instance?.close();
    await db?.drop();
  });

  it('shows claims by state and moves a card live when a step is taken', async () => {
    const api = instance.client();
    const claim = await api.createClaim({
      text: 'Russian volunteer units hold the village of Tyotkino in the Kursk region',
      claimant: 'Freedom of Russia Legion',
      tags: ['kursk', 'incursion'],
    });
    const { page, problems } = await watchedPage(browser);

    await page.goto(instance.url + '/');
    await page.locator('#connection[data-status="open"]').waitFor({ timeout: 20_000 });
    // The demo token was offered (loopback) and is not stored anywhere.
    expect(await page.locator('#token').getAttribute('placeholder')).toBe('Using the demo editor token');
    expect(await storedValues(page)).toEqual([]);
    const card = (state: string) => page.locator(`.column[data-state="${state}"] [data-claim-id="${claim.id}"]`);
    await card('submitted').waitFor({ timeout: 20_000 });

    // Counts agree with GET /board.
    const board = await api.board();
    for (const column of board.states) {
      await expect
        .poll(() => page.locator(`.column[data-state="${column.state}"] .column__count`).textContent())
        .toBe(String(column.count));
    }

    await api.triage(claim.id);
    await card('triaged').waitFor({ timeout: 20_000 });
    expect(await card('submitted').count()).toBe(0);

    await api.assign(claim.id, { assignee: 'seed-fc-mara' });
    await card('in_research').waitFor({ timeout: 20_000 });
    await expect.poll(() => card('in_research').locator('.card__assignee dd').textContent()).toBe('seed-fc-mara');

    // Filtering by assignee keeps only that person's cards.
    await page.selectOption('#filter-assignee', 'seed-fc-mara');
    // The filtered claims are read from GET /claims: wait for them rather than read the board before they arrive.
    await page.waitForURL(/assignee=seed-fc-mara/, { timeout: 20_000 });
    await expect
      .poll(async () => [...new Set(await page.locator('.card__assignee dd').allTextContents())], { timeout: 20_000 })
      .toEqual(['seed-fc-mara']);
    await page.selectOption('#filter-assignee', '');

    await page.waitForTimeout(1800); // let the highlight fade for a calm screenshot
    await mkdir(resultsDir, { recursive: true });
    await page.screenshot({ path: `${resultsDir}board.png`, fullPage: false });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the page has no inline script (parsed by the browser)', async () => {
    const html = await (await fetch(instance.url + '/')).text();
    const { page } = await watchedPage(browser);
    await page.goto(instance.url + '/assets/board/config.json');
    const found = await page.evaluate((source) => {
      const doc = new DOMParser().parseFromString(source, 'text/html');
      const scripts = [...doc.querySelectorAll('script')].map((s) => ({ src: s.getAttribute('src'), text: s.textContent ?? '' }));
      const handlers = [...doc.querySelectorAll('*')].flatMap((el) => el.getAttributeNames().filter((n) => n.startsWith('on')));
      return { scripts, handlers };
    }, html);
    expect(found.scripts.length).toBeGreaterThan(0);
    for (const script of found.scripts) {
      expect(script.src).toMatch(/^\/assets\/board\//);
      expect(script.text.trim()).toBe('');
    }
    expect(found.handlers).toEqual([]);
    await page.close();
  });

  it('says plainly when a token is refused, and goes back to the demo token when the field is cleared', async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(instance.url + '/');
    await page.locator('#connection[data-status="open"]').waitFor({ timeout: 20_000 });

    const bad = `ct_${'x'.repeat(43)}`;
    await page.fill('#token', bad);
    await page.press('#token', 'Enter');
    await page.locator('#connection[data-status="rejected"]').waitFor({ timeout: 20_000 });
    const notice = page.locator('#notice');
    expect(await notice.isVisible()).toBe(true);
    expect(await notice.textContent()).toMatch(/^That token was refused/);
    expect(await page.locator('#connection-text').textContent()).toBe('Token refused');
    // The socket's own reconnect attempts must not turn the message into "Offline".
    await page.waitForTimeout(1500);
    expect(await page.locator('#connection').getAttribute('data-status')).toBe('rejected');
    expect(await storedValues(page)).not.toContain(bad);

    await page.fill('#token', '');
    await page.press('#token', 'Enter');
    await page.locator('#connection[data-status="open"]').waitFor({ timeout: 20_000 });
    expect(await notice.isVisible()).toBe(false);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('under a foreign host name the page gets no token and asks for one; a pasted token works for the tab only', async () => {
    const { page, problems } = await watchedPage(browser);
    const port = new URL(instance.url).port;
    await page.goto(`http://${FOREIGN_HOST}:${port}/`);
    await page.locator('#connection[data-status="no-token"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#notice').textContent()).toMatch(/^Sign in/);
    const html = await page.content();
    for (const token of Object.values(instance.tokens)) expect(html).not.toContain(token);
    expect(await page.evaluate(() => fetch('/assets/board/config.json').then((r) => r.json()))).toEqual({});
    expect(await storedValues(page)).toEqual([]);

    await page.fill('#token', instance.tokens.auditor);
    await page.press('#token', 'Enter');
    await page.locator('#connection[data-status="open"]').waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => Object.keys(localStorage).length)).toBe(0);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([instance.tokens.auditor]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the API docs render under their CSP', async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(instance.url + '/docs');
    await page.locator('.swagger-ui .information-container .title').waitFor({ timeout: 20_000 });
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
    await page.waitForTimeout(500);
    expect(problems).toEqual([]);
    await page.close();
  });
});
