/**
 * The five reports of 12 March 2024 in ../shared/seed-articles/, as sources: outlet only
 * where the text itself names it, short excerpts (a sentence or two) quoted verbatim —
 * never whole articles. None of the texts carries a URL, so none is invented here.
 */
export interface SeedSource {
  key: SourceKey;
  /** File in shared/seed-articles/ it comes from. */
  file: string;
  /** Only when the text names it; otherwise null. */
  outlet: string | null;
  byline: string | null;
  /** ISO-8601 (date-time when the text gives the time). */
  publishedAt: string;
  language: string;
  title: string;
  /** What a reader should know about the source itself. */
  remark: string | null;
  excerpts: Record<string, string>;
}

export type SourceKey = 'legion_raids' | 'afp_press_conference' | 'ukrainska_pravda' | 'baza_reuters_roundup' | 'three_units';

export const SOURCES: Record<SourceKey, SeedSource> = {
  legion_raids: {
    key: 'legion_raids',
    file: '000_73982c79df0f54a5.txt',
    outlet: null,
    byline: 'Christian Oliver',
    publishedAt: '2024-03-12T15:32:00Z',
    language: 'en',
    title: 'Russian paramilitary groups loyal to Ukraine launch cross-border attacks inside Russian territory',
    remark: 'The outlet is not named in the text. Spells the village "Tetkino".',
    excerpts: {
      tetkino:
        'One of the Russian targets reportedly raided by the paramilitary groups was the border village of Tetkino in the Kursk region.',
      legionControl: 'Freedom of Russian Legion claimed it had control of the region.',
      noInvolvement:
        "Ukraine's military spokesperson said the country's military has no involvement with any of the cross-border raids",
      drones:
        "It comes after Ukraine was accused of launching some 25 drones on targets within Russia. A spokesperson for the Kremlin's military said the attacks were thwarted.",
      oilFires:
        "Footage has since emerged of key Russian oil facilities on fire following apparent strikes, however, despite Russia's claims.",
      weapons: '"You can really change your life for the better only with weapons in your hands," a Siberia Battalion spokesperson said.',
    },
  },
  afp_press_conference: {
    key: 'afp_press_conference',
    file: '001_66c7cb64ec537c92.txt',
    outlet: 'AFP',
    byline: null,
    publishedAt: '2024-03-12',
    language: 'en',
    title: 'Russian Fighters For Ukraine Say Cross-border Raids Will Continue',
    remark: 'Copyright line names AFP. The text says the press conference was held "on Thursday" although the set is dated Tuesday 12 March 2024.',
    excerpts: {
      secondFront:
        "\"It's probably no exaggeration to say we've opened up a second front, taking full-scale military action into the enemy territory,\" said Denis Nikitin",
      backed:
        'They said the latest ongoing operation is much more serious and backed by Ukraine, which provides reconnaissance support and ammunition.',
      interconnected:
        "\"All our unit's military infrastructure is interconnected, with the structure of Ukraine's armed forces and defence ministry,\" Nikitin said.",
      notStrongEnough:
        'Nikitin said, admitting they were "not strong enough" to seize territory long-term.',
      divert:
        'Nikitin and his allies said their raids forced Russia to divert troops from front lines to defend the border regions and foiled a planned advance timed to coincide with Russian elections.',
      baranovsky: '"The Ukrainian authorities support us in our initiatives," said Baranovsky.',
    },
  },
  ukrainska_pravda: {
    key: 'ukrainska_pravda',
    file: '002_a0dfdbfd2f27e302.txt',
    outlet: 'Ukrainska Pravda',
    byline: 'Stanislav Pohorilov, Valentyna Romanenko',
    publishedAt: '2024-03-12T09:20:00+02:00',
    language: 'en',
    title: "Ukraine's volunteer soldiers from Russia break through to Russia's border oblasts, battles reported – video",
    remark: 'Outlet named through "in a comment to Ukrainska Pravda". Spells the village "Tyotkino".',
    excerpts: {
      lozovaRudka:
        'It is claimed that the volunteer soldiers have taken control of the village of Lozova Rudka in Russia’s Belgorod Oblast, and a small arms battle is currently underway in Tyotkino in Russia’s Kursk Oblast.',
      noBreakthrough:
        'Kursk Oblast Governor Roman Starovoit claimed that no one had breached the territory of the oblast. [...] "There was no breakthrough," he insisted.',
      glushkovsky: '"The village of Tyotkino in the Glushkovsky district is being attacked by Ukraine now," the Russian governor noted.',
      autonomous:
        '"They are acting completely autonomously and independently on the territory of the Russian Federation and are fulfilling their socio-political programme tasks there.',
      armouredVehicles:
        'Later, the Freedom of Russia Legion posted a video allegedly depicting the destruction of Russian armoured vehicles in the village of Tyotkino in Kursk Oblast.',
    },
  },
  baza_reuters_roundup: {
    key: 'baza_reuters_roundup',
    file: '003_3f392c6a1a7b632c.txt',
    outlet: null,
    byline: null,
    publishedAt: '2024-03-12',
    language: 'en',
    title: 'The “Legion of Free Russia” said that it dreams of “a Russia freed from Putin\'s dictatorship”',
    remark:
      'Machine translation (Finnish traces such as "[Sitten]", "Bazan"); relays Reuters, AFP, Baza, Tass and Fontanka. Spells the village "Tjotkino" and "Tyotkino".',
    excerpts: {
      tjotkino: 'Bazan according to the information, battles would take place in the village of Tjotkino in the Kursk region and in the Belgorod region.',
      wholeVillage: 'After half a day, the “Legion of Free Russia” claimed to have taken over the entire village of Tyotkino.',
      ponomarev:
        'Ilya Ponomarev in turn told on his Telegram channelthat the Russian volunteer forces would have taken over the village of Lozovaya Rudka',
      notConfirmed: 'The information could not be independently confirmed.',
      fsb: 'According to the FSB, it would have “destroyed” 100 attackers, six tanks, a CAESAR howitzer and 20 armored fighting vehicles in attacks in the Kursk and Belgorod regions.',
      mod: 'According to it, Russia managed to prevent the border crossing in the Belgorod and Kursk regions and forced the attackers from the Ukrainian side to retreat.',
      unverified: "Neither side's claims have been verified.",
      yusov: 'According to Yusov, the groups will carry out the operation in Russian territory independently, independently of Ukraine, Reuters reports.',
      severalDozen:
        'Ukraine did, according to Russian sources several dozen drone attacks in different parts of Russia. The strikes set fire to at least one oil refinery and an oil tank.',
      baranovskyLosses: 'According to Baranovski, the Russian forces would have lost several armored vehicles.',
      prilesje:
        "Gladkov announced that the village of Prilesje, which belongs to the region and is located near the border with Ukraine, had been the target of Ukrainian armed forces' shelling.",
    },
  },
  three_units: {
    key: 'three_units',
    file: '004_dbf670fa4171bb0b.txt',
    outlet: null,
    byline: null,
    publishedAt: '2024-03-12',
    language: 'en',
    title: 'Russian volunteer units fighting with Ukraine claim to have crossed Russian border',
    remark: 'The outlet is not named in the text. Places Tyotkino both "in the Kursk region" and in the "Belgorod region".',
    excerpts: {
      captured: 'The Freedom of Russia legion claims to have captured the village of Tyotkino in the Kursk region.',
      belgorodVillage:
        'posted videos of what it said were its troops crossing into Russia in tanks and destroying a Russian armoured personnel carrier in the Belgorod region village of Tyotkino.',
      fleeing: '“Putin’s army is fleeing the settlement, leaving its positions and abandoning heavy equipment,” the legion wrote on Telegram.',
      autonomously:
        'Andriy Yusov said the alleged incursion was likely to have been the initiative of the Russian volunteer units themselves, emphasising that they operated “autonomously and independently” from the AFU.',
      afuUnit: 'The Siberian Battalion, an AFU unit primarily made up of non-ethnic Russian volunteers from Russia’s national republics in Siberia',
      sabotageGroup:
        'Kursk Governor Roman Starovoyt later posted a video on Telegram in which he said that an unsuccessful “attempt by a sabotage and reconnaissance group” to cross into the region had led to an exchange of fire.',
    },
  },
};

/** A source excerpt, with the check that the key exists (typos fail at seed build time). */
export function excerpt(source: SourceKey, key: string): string {
  const text = SOURCES[source].excerpts[key];
  if (text === undefined) throw new Error(`seed source ${source} has no excerpt ${key}`);
  return text;
}

/** How a source is cited inside evidence summaries. */
export function cite(source: SourceKey): string {
  const s = SOURCES[source];
  return `${s.outlet ?? `report "${s.title}"`} (12 March 2024)`;
}
