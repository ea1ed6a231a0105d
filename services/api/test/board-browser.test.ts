/**
 * The live board in a real browser (Debian's chromium through playwright-core): the page
 * loads with the injected demo editor token, shows the seeded case by state, and a card
 * moves columns when a workflow step is performed through the API. Screenshot in
 * test-results/board.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildBoard, boardDistDir } from '../src/board/build.ts';
import { startInstance, type Instance } from './live-support.ts';

const pg = await requirePostgres();
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) throw new Error(`${CHROMIUM} is required in CI (.ci/run installs it)`);
const resultsDir = fileURLToPath(new URL('../../../test-results/', import.meta.url));

describe.skipIf(!pg || !hasChromium)('board page in a browser', () => {
  let db: TestDatabase;
  let instance: Instance;
  let browser: Browser;

  beforeAll(async () => {
    // `npm test` builds first; a lone run of this file builds the bundle itself.
    if (!existsSync(`${boardDistDir}app.js`)) await buildBoard();
    db = await createTestDatabase('board_ui');
    instance = await startInstance(db.url, {}, { seed: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
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
    const page = await browser.newPage({ viewport: { width: 1680, height: 940 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(instance.url + '/');
    await page.locator('#connection[data-status="open"]').waitFor({ timeout: 20_000 });
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
    const assignees = await page.locator('.card__assignee dd').allTextContents();
    expect(assignees.length).toBeGreaterThan(0);
    expect(new Set(assignees)).toEqual(new Set(['seed-fc-mara']));
    await page.selectOption('#filter-assignee', '');

    await page.waitForTimeout(1800); // let the highlight fade for a calm screenshot
    await mkdir(resultsDir, { recursive: true });
    await page.screenshot({ path: `${resultsDir}board.png`, fullPage: false });
    expect(errors).toEqual([]);
    await page.close();
  });
});
