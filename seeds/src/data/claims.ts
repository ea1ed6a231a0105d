import type { AppearanceInput, ClaimCommand, ClaimStatus, Rating, Stance } from '@claimtrail/domain';
import { seedClaimId } from '../ids.ts';
import { SOURCES, cite, excerpt, type SourceKey } from './sources.ts';
import { SEED_USERS, type SeedUserKey } from './users.ts';

export interface SeedStep {
  /** Who performs it (a key of SEED_USERS): always a role the policy allows, four eyes respected. */
  as: SeedUserKey;
  command: ClaimCommand;
}

export interface SeedClaim {
  slug: string;
  /** Deterministic UUID (v5 of the slug). */
  id: string;
  steps: SeedStep[];
  expected: { state: ClaimStatus; rating: Rating | null; assignee: string | null; mergedInto?: string };
}

function appearance(source: SourceKey, key: string): AppearanceInput {
  const s = SOURCES[source];
  return { outlet: s.outlet, title: s.title, publishedAt: s.publishedAt, excerpt: excerpt(source, key) };
}

function submit(
  as: SeedUserKey,
  text: string,
  claimant: string,
  tags: string[],
  appearances: [SourceKey, string][],
): SeedStep {
  return {
    as,
    command: {
      type: 'submit_claim',
      text,
      claimant,
      language: 'en',
      tags,
      appearances: appearances.map(([source, key]) => appearance(source, key)),
    },
  };
}

/**
 * Evidence quoting another report. `appearance` is the 1-based index of the claim's
 * appearance it is about; it is written as the domain's default id (`a<n>`) and mapped to
 * the real id from the submit answer at run time.
 */
function evidence(
  as: SeedUserKey,
  stance: Stance,
  source: SourceKey,
  key: string,
  comment: string,
  appearanceIndex?: number,
): SeedStep {
  return {
    as,
    command: {
      type: 'add_evidence',
      summary: `${comment} — ${cite(source)}: "${excerpt(source, key)}"`,
      stance,
      url: null,
      appearance: appearanceIndex === undefined ? null : `a${appearanceIndex}`,
    },
  };
}

const note = (as: SeedUserKey, body: string): SeedStep => ({ as, command: { type: 'add_note', body } });
const triage = (as: SeedUserKey): SeedStep => ({ as, command: { type: 'triage' } });
const assign = (as: SeedUserKey, to: SeedUserKey): SeedStep => ({ as, command: { type: 'assign', assignee: SEED_USERS[to].id } });
const draft = (as: SeedUserKey, rating: Rating, rationale: string): SeedStep => ({
  as,
  command: { type: 'draft_verdict', rating, rationale },
});
const submitForReview = (as: SeedUserKey): SeedStep => ({ as, command: { type: 'submit_for_review' } });
const publish = (as: SeedUserKey): SeedStep => ({ as, command: { type: 'publish' } });
const step = (as: SeedUserKey, command: ClaimCommand): SeedStep => ({ as, command });

/**
 * Stands for the id of the claim's pending correction, known only once the proposal is
 * recorded: the runner puts in the one the previous step's answer shows.
 */
export const PENDING_CORRECTION = '<pending-correction>';
const approveCorrection = (as: SeedUserKey): SeedStep => ({
  as,
  command: { type: 'approve_correction', correctionId: PENDING_CORRECTION },
});

const LEGION_HOLDS_TYOTKINO = 'legion-holds-tyotkino';
const TYOTKINO_TAGS = ['tyotkino', 'tetkino', 'tjotkino', 'kursk', 'freedom-of-russia-legion'];

function claim(slug: string, expected: SeedClaim['expected'], steps: SeedStep[]): SeedClaim {
  return { slug, id: seedClaimId(slug), expected, steps };
}

export const SEED_CLAIMS: SeedClaim[] = [
  claim(LEGION_HOLDS_TYOTKINO, { state: 'published', rating: 'unverifiable', assignee: SEED_USERS.mara.id }, [
    submit(
      'mara',
      'The Freedom of Russia Legion has captured and holds the village of Tyotkino in Russia’s Kursk region.',
      'Freedom of Russia Legion',
      TYOTKINO_TAGS,
      [
        ['three_units', 'captured'],
        ['baza_reuters_roundup', 'wholeVillage'],
        ['ukrainska_pravda', 'armouredVehicles'],
      ],
    ),
    triage('ines'),
    assign('ines', 'mara'),
    evidence('mara', 'refutes', 'ukrainska_pravda', 'noBreakthrough', 'The Kursk governor denies any breach of the region', 1),
    evidence('mara', 'context', 'ukrainska_pravda', 'lozovaRudka', 'The same morning, Tyotkino was described as contested, not taken', 1),
    evidence('mara', 'context', 'afp_press_conference', 'notStrongEnough', 'The units’ own leader says they cannot hold territory long-term'),
    evidence('mara', 'context', 'baza_reuters_roundup', 'unverified', 'No independent confirmation either way', 2),
    evidence('mara', 'context', 'baza_reuters_roundup', 'tjotkino', 'Baza (via a translated report, spelling "Tjotkino") reports fighting, not control'),
    note('mara', 'Spellings in the reports: Tyotkino (Ukrainska Pravda and the other English reports), Tetkino (report by Christian Oliver), Tjotkino (translated Baza roundup). Same village, Glushkovsky district, Kursk region.'),
    draft(
      'mara',
      'unverifiable',
      'The Legion’s claim rests on its own Telegram posts and videos. The Kursk governor denies any breakthrough while conceding fighting in Tyotkino; no outlet could confirm control independently, and the Legion’s allies say they are not strong enough to hold territory.',
    ),
    submitForReview('mara'),
    publish('ines'),
  ]),

  claim('kursk-governor-no-breakthrough', { state: 'published', rating: 'misleading', assignee: SEED_USERS.tomas.id }, [
    submit(
      'tomas',
      'There was no breakthrough: no one breached the territory of the Kursk region.',
      'Roman Starovoit, governor of Kursk Oblast',
      ['kursk', 'tyotkino', 'starovoit'],
      [
        ['ukrainska_pravda', 'noBreakthrough'],
        ['three_units', 'sabotageGroup'],
      ],
    ),
    triage('jonah'),
    assign('jonah', 'tomas'),
    evidence('tomas', 'refutes', 'ukrainska_pravda', 'glushkovsky', 'The governor himself says Tyotkino is under attack', 1),
    evidence('tomas', 'refutes', 'ukrainska_pravda', 'armouredVehicles', 'The Legion published video from inside Tyotkino'),
    evidence('tomas', 'context', 'three_units', 'sabotageGroup', 'His own account concedes an exchange of fire at the border', 2),
    draft(
      'tomas',
      'misleading',
      'Fighting on Kursk territory is reported by all sides, including the governor, who says Tyotkino is being attacked. "No breakthrough" is defensible only in the narrow sense that no lasting hold was confirmed; as a statement that nobody entered the region it gives a false impression.',
    ),
    submitForReview('tomas'),
    publish('jonah'),
    // A new rationale is what readers see: proposed by one editor, approved by another.
    step('ines', {
      type: 'correct',
      note: 'Rationale now names the governor’s own statement and the district (Glushkovsky); rating unchanged.',
      rationale:
        'Fighting on Kursk territory is reported by all sides, including the governor, who says Tyotkino in the Glushkovsky district is being attacked. "No breakthrough" is defensible only in the narrow sense that no lasting hold was confirmed; as a statement that nobody entered the region it gives a false impression.',
    }),
    approveCorrection('jonah'),
  ]),

  claim('lozova-rudka-taken', { state: 'in_review', rating: null, assignee: SEED_USERS.tomas.id }, [
    submit(
      'tomas',
      'Russian volunteer units fighting for Ukraine have taken control of the village of Lozova Rudka in Russia’s Belgorod region.',
      'Russian volunteer units; Ilya Ponomarev',
      ['belgorod', 'lozova-rudka', 'lozovaya-rudka'],
      [
        ['ukrainska_pravda', 'lozovaRudka'],
        ['baza_reuters_roundup', 'ponomarev'],
      ],
    ),
    triage('ines'),
    assign('ines', 'tomas'),
    evidence('tomas', 'refutes', 'baza_reuters_roundup', 'mod', 'Russia’s defence ministry says the crossing was prevented'),
    evidence('tomas', 'context', 'baza_reuters_roundup', 'notConfirmed', 'Ponomarev’s claim could not be confirmed', 2),
    note('tomas', 'Two spellings: Lozova Rudka (Ukrainian) and Lozovaya Rudka (Russian).'),
    draft('tomas', 'unverifiable', 'Only the units and an exiled politician claim control; Moscow denies any crossing; nobody confirmed it independently.'),
    submitForReview('tomas'),
  ]),

  claim('ukraine-military-not-involved', { state: 'in_research', rating: 'mixed', assignee: SEED_USERS.mara.id }, [
    submit(
      'mara',
      'Ukraine’s military has no involvement in the cross-border raids; the Russian volunteer units act autonomously and independently.',
      'Ukraine’s military; Andriy Yusov, Defence Intelligence of Ukraine (DIU)',
      ['ukraine', 'diu', 'involvement'],
      [
        ['legion_raids', 'noInvolvement'],
        ['ukrainska_pravda', 'autonomous'],
        ['three_units', 'autonomously'],
      ],
    ),
    triage('ines'),
    assign('ines', 'mara'),
    evidence('mara', 'refutes', 'afp_press_conference', 'baranovsky', 'A Legion member says Ukrainian authorities support them', 1),
    evidence('mara', 'refutes', 'three_units', 'afuUnit', 'The same report calls the Siberian Battalion an AFU unit', 3),
    evidence('mara', 'supports', 'baza_reuters_roundup', 'yusov', 'Reuters relays Yusov’s statement of independence'),
    draft(
      'mara',
      'mixed',
      'Ukraine’s intelligence directorate says the units act autonomously; the units describe themselves as backed by and integrated with Ukraine’s forces, and one report calls a unit part of the AFU. Neither account can be verified.',
    ),
    submitForReview('mara'),
    publish('jonah'),
    step('ines', {
      type: 'reopen',
      reason: 'The AFP press conference adds a direct statement that the units’ military infrastructure is interconnected with Ukraine’s armed forces; re-check the rating.',
    }),
    evidence('mara', 'refutes', 'afp_press_conference', 'interconnected', 'Nikitin: infrastructure interconnected with Ukraine’s armed forces and defence ministry'),
  ]),

  claim('ukraine-backs-operation', { state: 'in_research', rating: null, assignee: SEED_USERS.tomas.id }, [
    submit(
      'tomas',
      'The operation is backed by Ukraine, which provides reconnaissance support and ammunition.',
      'Denis Nikitin (Russian Volunteer Corps) and Alexei Baranovsky (Freedom of Russia Legion)',
      ['ukraine', 'rdk', 'involvement'],
      [['afp_press_conference', 'backed']],
    ),
    triage('jonah'),
    assign('jonah', 'tomas'),
    evidence('tomas', 'supports', 'afp_press_conference', 'interconnected', 'The units’ leader describes integration with Ukraine’s forces', 1),
    evidence('tomas', 'refutes', 'ukrainska_pravda', 'autonomous', 'Ukraine’s military intelligence says they act autonomously'),
    draft('tomas', 'mostly_true', 'The units’ leaders say so on the record and one report calls a unit part of the AFU.'),
    submitForReview('tomas'),
    step('jonah', {
      type: 'request_changes',
      reason: 'The only sources for "backed" are the units themselves; the DIU denies it. Weigh both and explain why a party’s own statement is enough for "mostly true" — or change the rating.',
    }),
    note('tomas', 'AFP text says the press conference was "on Thursday", while the set is dated Tuesday 12 March 2024: check the date before citing it.'),
  ]),

  claim('fsb-attackers-destroyed', { state: 'published', rating: 'unverifiable', assignee: SEED_USERS.sam.id }, [
    submit(
      'jonah',
      'Russian forces destroyed 100 attackers, six tanks, a CAESAR howitzer and 20 armoured fighting vehicles in the Kursk and Belgorod regions.',
      'FSB (Russian Federal Security Service), via Baza',
      ['fsb', 'kursk', 'belgorod', 'caesar', 'losses'],
      [['baza_reuters_roundup', 'fsb']],
    ),
    triage('jonah'),
    assign('jonah', 'sam'),
    evidence('sam', 'context', 'baza_reuters_roundup', 'unverified', 'The relaying report says neither side’s claims were verified', 1),
    evidence('sam', 'context', 'baza_reuters_roundup', 'baranovskyLosses', 'The other side claims Russian armour losses instead'),
    evidence('sam', 'context', 'afp_press_conference', 'notStrongEnough', 'The units describe a raid, not a force of the size implied'),
    draft(
      'sam',
      'unverifiable',
      'The figures come from the FSB through a single outlet (Baza); no report shows wreckage or independent counts, and the attacking units publish their own, opposite loss claims.',
    ),
    submitForReview('sam'),
    // Four eyes: Sam (admin) drafted, so an editor publishes.
    publish('jonah'),
  ]),

  claim('kremlin-25-drones-thwarted', { state: 'retracted', rating: 'mostly_false', assignee: SEED_USERS.mara.id }, [
    submit(
      'mara',
      'Ukraine launched some 25 drones at targets inside Russia and the attacks were thwarted.',
      'Spokesperson for the Kremlin’s military',
      ['drones', 'oil'],
      [['legion_raids', 'drones']],
    ),
    triage('ines'),
    assign('ines', 'mara'),
    evidence('mara', 'refutes', 'legion_raids', 'oilFires', 'Footage of burning oil facilities contradicts "thwarted"', 1),
    evidence('mara', 'context', 'baza_reuters_roundup', 'severalDozen', 'Russian sources speak of several dozen drone attacks, not 25'),
    draft('mara', 'mostly_false', 'Reports of fires at oil facilities show not all attacks were thwarted; the count itself differs between sources.'),
    submitForReview('mara'),
    publish('ines'),
    step('jonah', {
      type: 'retract',
      reason: 'The verdict treated the "25 drones" and the "several dozen" drone attacks of another report as the same wave; they may be different nights. Retracted until the timeline is established.',
    }),
  ]),

  claim('tyotkino-in-belgorod-region', { state: 'published', rating: 'false', assignee: SEED_USERS.tomas.id }, [
    submit(
      'tomas',
      'Tyotkino is a village in Russia’s Belgorod region.',
      'Report "Russian volunteer units fighting with Ukraine claim to have crossed Russian border"',
      ['tyotkino', 'belgorod', 'kursk', 'geography'],
      [['three_units', 'belgorodVillage']],
    ),
    triage('ines'),
    assign('ines', 'tomas'),
    evidence('tomas', 'refutes', 'ukrainska_pravda', 'glushkovsky', 'The Kursk governor places it in the Glushkovsky district of his region', 1),
    evidence('tomas', 'refutes', 'legion_raids', 'tetkino', 'Spelled Tetkino, placed in the Kursk region'),
    evidence('tomas', 'refutes', 'three_units', 'captured', 'The same report also says "in the Kursk region"', 1),
    draft('tomas', 'false', 'Every other report, the same article elsewhere and the Kursk governor place Tyotkino in the Kursk region (Glushkovsky district).'),
    submitForReview('tomas'),
    publish('ines'),
  ]),

  claim('legion-controls-tetkino', { state: 'merged', rating: null, assignee: null, mergedInto: seedClaimId(LEGION_HOLDS_TYOTKINO) }, [
    submit(
      'tomas',
      'The Freedom of Russian Legion claimed control after raiding the border village of Tetkino in the Kursk region.',
      'Freedom of Russia Legion',
      TYOTKINO_TAGS,
      [
        ['legion_raids', 'legionControl'],
        ['legion_raids', 'tetkino'],
      ],
    ),
    note('ines', 'Tetkino = Tyotkino = Tjotkino: duplicate of the Tyotkino control claim.'),
    step('ines', { type: 'merge', into: seedClaimId(LEGION_HOLDS_TYOTKINO) }),
  ]),

  claim('weapons-only-way-to-change', { state: 'rejected', rating: null, assignee: null }, [
    submit(
      'mara',
      'You can really change your life for the better only with weapons in your hands.',
      'Siberian Battalion spokesperson',
      ['siberian-battalion'],
      [['legion_raids', 'weapons']],
    ),
    step('ines', { type: 'reject', reason: 'A political exhortation, not a checkable statement of fact.' }),
  ]),

  claim('second-front-opened', { state: 'triaged', rating: null, assignee: null }, [
    submit(
      'tomas',
      'The volunteer units have opened up a second front, taking full-scale military action into Russian territory.',
      'Denis Nikitin, Russian Volunteer Corps',
      ['rdk', 'second-front'],
      [['afp_press_conference', 'secondFront']],
    ),
    triage('jonah'),
  ]),

  claim('raids-diverted-russian-troops', { state: 'submitted', rating: null, assignee: null }, [
    submit(
      'jonah',
      'The raids forced Russia to divert troops from the front lines and foiled a planned advance timed to coincide with the Russian elections.',
      'Denis Nikitin and allied unit leaders',
      ['rdk', 'elections'],
      [['afp_press_conference', 'divert']],
    ),
  ]),

  claim('mod-prevented-border-crossing', { state: 'in_research', rating: null, assignee: SEED_USERS.mara.id }, [
    submit(
      'mara',
      'Russian forces prevented the border crossing in the Belgorod and Kursk regions and forced the attackers to retreat.',
      'Russian Ministry of Defence',
      ['belgorod', 'kursk', 'mod'],
      [['baza_reuters_roundup', 'mod']],
    ),
    triage('ines'),
    assign('ines', 'tomas'),
    // Re-assigned while in research: Tomás is on the Lozova Rudka review.
    assign('jonah', 'mara'),
    evidence('mara', 'refutes', 'ukrainska_pravda', 'glushkovsky', 'The Kursk governor says Tyotkino is under attack'),
    evidence('mara', 'refutes', 'three_units', 'belgorodVillage', 'The Legion posted video of what it said were its troops crossing in tanks'),
  ]),

  claim('prilesje-shelled', { state: 'submitted', rating: null, assignee: null }, [
    submit(
      'mara',
      'Ukrainian armed forces shelled the village of Prilesje near the border in the Belgorod region.',
      'Vyacheslav Gladkov, governor of Belgorod Oblast',
      ['belgorod', 'prilesje', 'gladkov'],
      [['baza_reuters_roundup', 'prilesje']],
    ),
    note('mara', 'Only source is the governor’s Telegram channel as relayed by a translated roundup.'),
  ]),
];

/** Expected final state of every seed claim (slug → id, state, rating). */
export const SEED_SUMMARY = SEED_CLAIMS.map((c) => ({
  slug: c.slug,
  id: c.id,
  state: c.expected.state,
  rating: c.expected.rating,
  assignee: c.expected.assignee,
  mergedInto: c.expected.mergedInto ?? null,
  steps: c.steps.length,
}));
