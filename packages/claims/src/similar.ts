import { sql, type Kysely } from 'kysely';
import type { ClaimCard } from './projection.ts';

/** States whose claims may be suggested as duplicates: open and published (not rejected, merged, retracted). */
export const SIMILAR_CANDIDATE_STATES = ['submitted', 'triaged', 'in_research', 'in_review', 'published'] as const;

/** Below this combined score a claim is not suggested. */
export const SIMILAR_MIN_SCORE = 0.12;
/** Candidates reach the ranking only through the trigram indexes, at this threshold. */
const CANDIDATE_THRESHOLD = 0.1;
/** Candidates ranked in full (the best by trigram similarity). */
const CANDIDATES = 200;
/** Words of the claim weighed by rarity (the longest first). */
const MAX_WORDS = 40;
const MIN_WORD_LENGTH = 4;
/** A word's document frequency is counted up to this many claims: beyond, it weighs (almost) nothing anyway. */
const DF_CAP = 1000;
const WEIGHTS = { words: 0.7, text: 0.2, context: 0.1 } as const;

export interface SimilarClaim {
  claim: ClaimCard;
  score: number;
  /** Share of the claim's words (weighed by rarity: 1 / number of claims using the word) the candidate shares. */
  wordScore: number;
  textScore: number;
  contextScore: number;
}

function wordsOf(...texts: string[]): Set<string> {
  const words = new Set<string>();
  for (const text of texts) for (const w of text.split(' ')) if (w.length >= MIN_WORD_LENGTH) words.add(w);
  return words;
}

/**
 * Claims similar to claim `id`, most similar first; null when there is no such claim.
 * Three parts, all over the folded columns (`similar_text`: the text; `similar_context`:
 * claimant and appearances; folding makes Tyotkino, Tetkino, Tjotkino and Тёткино one word):
 * - rare shared words of the texts: trigram similarity of whole texts rewards "the village of … in
 *   Russia's … region" as much as the village's name; each of the claim's words weighs
 *   ln(1 + claims / claims using it)², so a name shared by five claims outweighs words all claims use;
 * - trigram similarity of the texts, and of claimants and appearances.
 * Candidates come from the trigram indexes (`%` at CANDIDATE_THRESHOLD, set for this
 * transaction only); word frequencies from the same indexes (regular expressions), capped.
 */
export async function similarClaims(db: Kysely<any>, id: string, limit: number): Promise<SimilarClaim[] | null> {
  return db.transaction().execute(async (tx) => {
    const self = await sql<{ t: string | null; c: string | null }>`
      select similar_text as t, similar_context as c from claims where id = ${id}`.execute(tx);
    const me = self.rows[0];
    if (me === undefined) return null;
    const states = [...SIMILAR_CANDIDATE_STATES];
    const words = [...wordsOf(me.t ?? '')].sort((a, b) => b.length - a.length || (a < b ? -1 : 1)).slice(0, MAX_WORDS);
    const weights = new Map<string, number>();
    if (words.length > 0) {
      // Folded words are letters and digits only: safe inside a regular expression.
      const { rows } = await sql<{ w: string; df: string; n: string }>`
        select w, (select count(*) from (select 1 from claims x
                    where x.state = any(${states}::text[])
                      and x.similar_text ~ ('\\m' || w || '\\M')
                    limit ${DF_CAP}) s)::text as df,
                  (select count(*) from (select 1 from claims x where x.state = any(${states}::text[]) limit ${DF_CAP * 10}) s)::text as n
          from unnest(${words}::text[]) as w`.execute(tx);
      // Inverse document frequency (smoothed: a word every claim uses still weighs a little),
      // squared: a rare name shared outweighs several common words shared.
      for (const r of rows) weights.set(r.w, Math.log(1 + Number(r.n) / Math.max(1, Number(r.df))) ** 2);
    }
    const totalWeight = [...weights.values()].reduce((a, b) => a + b, 0);
    await sql`select set_config('pg_trgm.similarity_threshold', ${String(CANDIDATE_THRESHOLD)}, true)`.execute(tx);
    const { rows } = await sql<{ card: string; t: string | null; c: string | null; text_score: number; context_score: number }>`
      select x.card::text as card, x.similar_text as t, x.similar_context as c,
             similarity(x.similar_text, ${me.t ?? ''})::float8 as text_score,
             similarity(x.similar_context, ${me.c ?? ''})::float8 as context_score
        from claims x
       where x.id <> ${id}
         and x.state = any(${states}::text[])
         and (x.similar_text % ${me.t ?? ''} or x.similar_context % ${me.c ?? ''})
       order by similarity(x.similar_text, ${me.t ?? ''}) + similarity(x.similar_context, ${me.c ?? ''}) desc, x.id
       limit ${CANDIDATES}`.execute(tx);
    return rows
      .map((r) => {
        const theirs = wordsOf(r.t ?? '');
        let shared = 0;
        for (const [w, weight] of weights) if (theirs.has(w)) shared += weight;
        const wordScore = round(totalWeight > 0 ? shared / totalWeight : 0);
        const textScore = round(Number(r.text_score));
        const contextScore = round(Number(r.context_score));
        const score = round(WEIGHTS.words * wordScore + WEIGHTS.text * textScore + WEIGHTS.context * contextScore);
        return { claim: JSON.parse(r.card) as ClaimCard, score, wordScore, textScore, contextScore };
      })
      .filter((s) => s.score >= SIMILAR_MIN_SCORE)
      .sort((a, b) => b.score - a.score || (a.claim.id < b.claim.id ? -1 : 1))
      .slice(0, limit);
  });
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
