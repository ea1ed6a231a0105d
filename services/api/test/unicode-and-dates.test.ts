/**
 * Input is normalized once at the boundary: every string of a body, a query string or a
 * path parameter in Unicode NFC (a decomposed and a composed spelling are one word for
 * search, filters and tags); a required text that shows nothing (only whitespace,
 * zero-width, bidi-control or other format characters) is refused naming its field.
 * Dates are real calendar dates, kept exactly as written. Messages say what is expected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, claimIn, createClaim, must, startApp, step, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

const nfc = (s: string) => s.normalize('NFC');
const nfd = (s: string) => s.normalize('NFD');
/** Words whose NFC and NFD spellings differ (Latin, Cyrillic, Vietnamese, Hangul). */
const WORDS = ['Tёткино', 'Tëtkino', 'crème brûlée', 'Phở Hà Nội', '한국어'];
const INVISIBLE_ONLY = [
  '\u200b', // zero-width space
  '\u200d\u200c', // zero-width joiner, non-joiner
  '\u202e\u202c', // right-to-left override, pop directional formatting
  '\u2066\u2069', // isolates
  '\ufeff', // byte order mark
  '\ufe0f\ufe0e', // variation selectors
  '\u{e0041}\u{e007f}', // tag characters
  ' \u200b\t\u2060 \u00ad', // mixed with whitespace, word joiner, soft hyphen
  '\u3164', // Hangul filler
];

describe.skipIf(!pg)('Unicode normalization and invisible text at the boundary', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function ids(query: string): Promise<string[]> {
    const response = await call(t.app, { method: 'GET', url: `/claims?${query}&limit=100`, headers: t.as.auditor });
    expect(response.statusCode, response.body).toBe(200);
    return response.json.items.map((c: { id: string }) => c.id);
  }

  it('text and tags sent decomposed are stored composed and found by either spelling', async () => {
    for (const [i, word] of WORDS.entries()) {
      expect(nfc(word)).not.toBe(nfd(word));
      const tag = `tag ${word} ${i}`;
      const sentDecomposed = await createClaim(t, t.as.fact_checker, { text: `Claim about ${nfd(word)}`, tags: [nfd(tag)] });
      const sentComposed = await createClaim(t, t.as.fact_checker, { text: `Other claim about ${nfc(word)}`, tags: [nfc(tag)] });
      const view = (await call(t.app, { method: 'GET', url: `/claims/${sentDecomposed.id}`, headers: t.as.auditor })).json;
      expect(view.text).toBe(nfc(`Claim about ${word}`));
      expect(view.tags).toEqual([nfc(tag).toLowerCase()]);
      for (const form of [nfc, nfd]) {
        const bySearch = await ids(`q=${encodeURIComponent(form(word))}`);
        const byTag = await ids(`tag=${encodeURIComponent(form(tag))}`);
        for (const found of [bySearch, byTag]) {
          expect(found, `${form.name} ${word}`).toContain(sentDecomposed.id);
          expect(found, `${form.name} ${word}`).toContain(sentComposed.id);
        }
      }
    }
  });

  it('NFC and NFD twins of a tag collapse into one; step bodies are normalized too', async () => {
    const created = await createClaim(t, t.as.fact_checker, { text: 'Twins', tags: [nfc('Café'), nfd('Café'), nfd('CAFÉ')] });
    const view = (await call(t.app, { method: 'GET', url: `/claims/${created.id}`, headers: t.as.auditor })).json;
    expect(view.tags).toEqual([nfc('café')]);
    await must(t, created.id, 'notes', t.as.fact_checker, { body: nfd('Noté') });
    const after = (await call(t.app, { method: 'GET', url: `/claims/${created.id}`, headers: t.as.auditor })).json;
    expect(after.notes[0].body).toBe(nfc('Noté'));
  });

  it('required text that shows nothing is refused in every field, naming it, appending nothing', async () => {
    const research = await claimIn(t, 'in_research');
    const drafted = await claimIn(t, 'drafted');
    const inReview = await claimIn(t, 'in_review');
    const published = await claimIn(t, 'published');
    const submitted = await claimIn(t, 'submitted');
    const triaged = await claimIn(t, 'triaged');
    const fields: { url: string; who: Record<string, string>; body: (x: string) => Record<string, unknown>; field: string }[] = [
      { url: '/claims', who: t.as.fact_checker, body: (x) => ({ text: x }), field: 'text' },
      { url: '/claims', who: t.as.fact_checker, body: (x) => ({ text: 'ok', tags: ['fine', x] }), field: 'tags[1]' },
      { url: `/claims/${research}/evidence`, who: t.as.fact_checker, body: (x) => ({ summary: x, stance: 'supports' }), field: 'summary' },
      { url: `/claims/${research}/notes`, who: t.as.fact_checker, body: (x) => ({ body: x }), field: 'body' },
      { url: `/claims/${drafted}/verdict`, who: t.as.fact_checker, body: (x) => ({ rating: 'false', rationale: x }), field: 'rationale' },
      { url: `/claims/${submitted}/reject`, who: t.as.editor, body: (x) => ({ reason: x }), field: 'reason' },
      { url: `/claims/${triaged}/assign`, who: t.as.editor, body: (x) => ({ assignee: x }), field: 'assignee' },
      { url: `/claims/${inReview}/request-changes`, who: t.as.editor, body: (x) => ({ reason: x }), field: 'reason' },
      { url: `/claims/${published}/reopen`, who: t.as.editor, body: (x) => ({ reason: x }), field: 'reason' },
      { url: `/claims/${published}/retract`, who: t.as.editor, body: (x) => ({ reason: x }), field: 'reason' },
      { url: `/claims/${published}/correct`, who: t.as.editor, body: (x) => ({ note: x }), field: 'note' },
    ];
    for (const f of fields) {
      for (const invisible of INVISIBLE_ONLY) {
        const before = await t.eventCount();
        const response = await call(t.app, { method: 'POST', url: f.url, headers: f.who, payload: f.body(invisible) });
        const label = `${f.url} ${f.field} ${JSON.stringify(invisible)}`;
        expect(response.statusCode, `${label} ${response.body}`).toBe(400);
        expect(response.headers['content-type'], label).toContain('application/problem+json');
        expect(response.json, label).toMatchObject({ code: 'validation', field: f.field });
        expect(response.json.detail, label).toMatch(/visible/);
        expect(await t.eventCount(), label).toBe(before);
      }
    }
    // Invisible characters inside visible text are text (a ZWJ emoji sequence, an RTL mark).
    const kept = await createClaim(t, t.as.fact_checker, { text: 'family 👨\u200d👩\u200d👧 \u200fשלום', claimant: '\u200b' });
    const view = (await call(t.app, { method: 'GET', url: `/claims/${kept.id}`, headers: t.as.auditor })).json;
    expect(view.text).toBe('family 👨\u200d👩\u200d👧 \u200fשלום');
    // An optional text that shows nothing is absent, as a blank one is.
    expect(view.claimant).toBeNull();
  });
});

describe.skipIf(!pg)('dates are real calendar dates, kept as written', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const publishedAt = (value: string) =>
    call(t.app, { method: 'POST', url: '/claims', headers: t.as.fact_checker, payload: { text: 'Dated', appearances: [{ publishedAt: value }] } });

  it('impossible dates and times are refused with what is wrong, appending nothing', async () => {
    const impossible = [
      '2024-02-30', '2023-02-29', '1900-02-29', '2100-02-29', '2024-04-31', '2024-06-31', '2024-09-31', '2024-11-31', '2024-01-32',
      '2024-13-01', '2024-00-10', '2024-03-00', '0000-01-01', '2024-03-12T24:00', '2024-03-12T24:00:00Z', '2024-03-12T23:60',
      '2024-03-12T10:00:60Z', '2016-12-31T23:59:60Z', '2024-03-12T10:00:00+24:00', '2024-03-12T10:00:00+05:60',
    ];
    for (const value of impossible) {
      const before = await t.eventCount();
      const response = await publishedAt(value);
      expect(response.statusCode, `${value} ${response.body}`).toBe(400);
      expect(response.json, value).toMatchObject({ code: 'validation', field: 'appearances[0].publishedAt' });
      expect(response.json.detail, value).toMatch(/^appearances\[0\]\.publishedAt (names a day that does not exist|has no month|must have)/);
      expect(await t.eventCount(), value).toBe(before);
    }
    expect((await publishedAt('2024-02-30')).json.detail).toContain('2024-02 has 29 days');
    expect((await publishedAt('2023-02-29')).json.detail).toContain('2023-02 has 28 days');
  });

  it('real ones are stored exactly as written (leap days, offsets, local times, fractions)', async () => {
    const real = ['2024-02-29', '2000-02-29', '2024-12-31', '2024-03-12T23:59:59.999999+14:00', '2024-03-12 10:00', '2024-03-12T00:00:00-0330', '0001-01-01'];
    for (const value of real) {
      const response = await publishedAt(value);
      expect(response.statusCode, `${value} ${response.body}`).toBe(201);
      expect(response.json.appearances[0].publishedAt).toBe(value);
    }
  });

  it('?at= on /claims/:id/state takes real instants only, in any offset, meaning the same instant', async () => {
    const { id } = await createClaim(t);
    const created = new Date((await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: t.as.auditor })).json.createdAt);
    const state = (at: string) => call(t.app, { method: 'GET', url: `/claims/${id}/state?at=${encodeURIComponent(at)}`, headers: t.as.auditor });
    for (const bad of ['2024-02-30T00:00:00Z', '2023-02-29T12:00:00Z', '2024-03-12T24:00:00Z', '2016-12-31T23:59:60Z', '2024-03-12T10:00:00', '2024-03-12', 'yesterday']) {
      const response = await state(bad);
      expect(response.statusCode, `${bad} ${response.body}`).toBe(400);
      expect(response.json, bad).toMatchObject({ code: 'validation', field: 'at' });
      expect(response.json.detail, bad).toContain('such as 2024-03-12T10:00:00Z');
    }
    // The creation instant written with a +14:00 and a -03:30 offset: the claim exists then.
    const plus14 = new Date(created.getTime() + 14 * 3600_000).toISOString().replace('Z', '+14:00');
    const minus0330 = new Date(created.getTime() - 3.5 * 3600_000).toISOString().replace('Z', '-03:30');
    for (const at of [created.toISOString(), plus14, minus0330]) expect((await state(at)).statusCode, at).toBe(200);
    // One second earlier, in the same offsets: it did not exist yet.
    const before = new Date(created.getTime() - 1000);
    const earlierPlus14 = new Date(before.getTime() + 14 * 3600_000).toISOString().replace('Z', '+14:00');
    for (const at of [before.toISOString(), earlierPlus14]) expect((await state(at)).statusCode, at).toBe(404);
  });
});

describe.skipIf(!pg)('validation and refusal messages say what is expected', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = (payload: Record<string, unknown>) => call(t.app, { method: 'POST', url: '/claims', headers: t.as.fact_checker, payload });

  it('schema errors: formats by example, enums by their values, lengths by their limit; one message per field', async () => {
    const date = await create({ text: 'x', appearances: [{ publishedAt: '12/03/2024' }] });
    expect(date.json.detail).toBe('appearances[0].publishedAt must be a date such as 2024-03-12 or a date-time such as 2024-03-12T10:00:00Z');
    expect(date.json.errors).toHaveLength(1);
    const url = await create({ text: 'x', appearances: [{ url: 'not a url' }] });
    expect(url.json.detail).toMatch(/^appearances\[0\]\.url must be an absolute http\(s\) URL .*such as https:\/\/example\.org/);
    expect(url.json.errors).toHaveLength(1);
    expect((await create({ text: 'x', language: 'english!' })).json.detail).toMatch(/language must be a BCP-47 language tag such as "en"/);
    expect((await create({ text: 'a'.repeat(2001) })).json.detail).toBe('text must be at most 2000 characters');
    expect((await create({ text: 'x', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) })).json.detail).toBe('tags may hold at most 20 items');
    expect((await create({ text: 42 })).json.detail).toBe('text must be a string');
    expect((await create({ text: '   ' })).json.detail).toBe('text must be text with at least one visible character');
    const id = await claimIn(t, 'in_research');
    const stance = await step(t, id, 'evidence', t.as.fact_checker, { summary: 's', stance: 'maybe' });
    expect(stance.json.detail).toBe('stance must be one of supports, refutes, context');
    const at = await call(t.app, { method: 'GET', url: `/claims/${id}/state?at=noon`, headers: t.as.auditor });
    expect(at.json.detail).toMatch(/^at must be a date-time with a time zone, such as 2024-03-12T10:00:00Z/);
    const limit = await call(t.app, { method: 'GET', url: '/claims?limit=500', headers: t.as.auditor });
    expect(limit.json.detail).toBe('limit must be at most 100');
  });

  it('workflow refusals read as sentences and name what would be allowed (codes and statuses unchanged)', async () => {
    const id = await claimIn(t, 'in_research');
    const publish = await step(t, id, 'publish', t.as.editor);
    expect(publish.statusCode).toBe(409);
    expect(publish.json).toMatchObject({ code: 'illegal_transition', detail: 'cannot publish a claim that is in_research; the claim must be in_review' });
    const verdict = await step(t, await claimIn(t, 'submitted'), 'verdict', t.as.fact_checker, { rating: 'false', rationale: 'r' });
    expect(verdict.statusCode).toBe(409);
    expect(verdict.json.detail).toMatch(/^cannot draft a verdict for a claim that is submitted; the claim must be [a-z_]+( or [a-z_]+)?$/);
    const assign = await step(t, await claimIn(t, 'published'), 'assign', t.as.editor, { assignee: 'demo-fact-checker' });
    expect(assign.json.detail).toMatch(/^cannot assign a claim that is published; the claim must be [a-z_]+(, [a-z_]+)*( or [a-z_]+)?$/);
    const role = await step(t, id, 'notes', t.as.auditor, { body: 'x' });
    expect(role.statusCode).toBe(403);
    expect(role.json.detail).toMatch(/^the role auditor may not add note \(allowed roles: .*fact_checker.*\)$/);
    const date = await create({ text: 'x', appearances: [{ publishedAt: '2024-02-30' }] });
    expect(date.json.detail).toBe('appearances[0].publishedAt names a day that does not exist: 2024-02 has 29 days');
  });
});
