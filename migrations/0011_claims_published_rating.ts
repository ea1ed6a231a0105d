import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `claims.rating` becomes the rating readers see: the published verdict's while the claim
 * is published (null when never published, reopened or retracted). It held the published
 * rating, else the draft's, so `GET /claims?rating=false` listed unpublished drafts as if
 * they were verdicts. The draft's rating gets its own column, `draft_rating`
 * (`?draftRating=`). Both are derived from the view like every other column (the writers
 * compute them with `publishedRating`/`draftRating`; a rebuild writes and compares them).
 *
 * Both indexes end in the list order (created_at desc, id desc), so a filtered page is an
 * ordered index range read, and are partial: most claims have no published verdict and
 * no draft, and a write to such a claim touches neither index.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table claims add column draft_rating text`.execute(db);
  await sql`
    update claims set
      rating = case when view ->> 'state' = 'published' then view -> 'publishedVerdict' ->> 'rating' end,
      draft_rating = view -> 'verdictDraft' ->> 'rating'`.execute(db);
  await sql`drop index if exists claims_rating_idx`.execute(db);
  await sql`create index claims_rating_idx on claims (rating, created_at desc, id desc) where rating is not null`.execute(db);
  await sql`create index claims_draft_rating_idx on claims (draft_rating, created_at desc, id desc) where draft_rating is not null`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists claims_draft_rating_idx`.execute(db);
  await sql`drop index if exists claims_rating_idx`.execute(db);
  // The former meaning: the published rating (whatever the state), else the draft's.
  await sql`update claims set rating = coalesce(view -> 'publishedVerdict' ->> 'rating', draft_rating)`.execute(db);
  await sql`alter table claims drop column draft_rating`.execute(db);
  await sql`create index claims_rating_idx on claims (rating, seq)`.execute(db);
}

export const migration0011: Migration = { up, down };
