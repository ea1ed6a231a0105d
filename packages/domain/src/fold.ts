/**
 * Transliteration folding for duplicate detection: one spelling per name whatever the
 * report's transliteration. Tyotkino, Tetkino, Tjotkino, Tyetkino and Тёткино all fold to
 * `tetkino`. Pure: the projection stores the folded text and trigram similarity compares
 * folded texts, so both sides of a comparison went through the same function.
 *
 * Not a transliteration anyone reads: a matching key. It is lossy on purpose (the
 * iotated vowels lose their glide, `ё` and `е` meet), applied to every text alike.
 */

/** Russian and Ukrainian Cyrillic letters → Latin (a simple scholarly-ish scheme; the vowel folding below evens out the variants). */
const CYRILLIC: Readonly<Record<string, string>> = {
  а: 'a', б: 'b', в: 'v', г: 'g', ґ: 'g', д: 'd', е: 'e', ё: 'yo', є: 'ye', ж: 'zh', з: 'z', и: 'i', і: 'i', ї: 'yi',
  й: 'y', к: 'k', л: 'l', м: 'm', н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ф: 'f', х: 'kh', ц: 'ts',
  ч: 'ch', ш: 'sh', щ: 'shch', ъ: '', ы: 'y', ь: '', э: 'e', ю: 'yu', я: 'ya',
};

/**
 * Spelling variants that meet, applied in order on lower-case Latin text:
 * - the iotated o (ё): `yo`, `jo`, `io`, `yoe`, `ye`, `je` → `e` (Tyotkino, Tjotkino, Tyetkino → Tetkino);
 * - `j` as a glide before u/a (Jurij, Jasnoe) → `y`;
 * - `kh` → `h` (Kharkiv, Harkiv);
 * - doubled letters collapse (Tetkkino, Rossiya/Rosiya).
 */
const VARIANTS: readonly (readonly [RegExp, string])[] = [
  [/(?:y|j|i)oe?/g, 'e'],
  [/(?:y|j)e/g, 'e'],
  [/j(?=[ua])/g, 'y'],
  [/kh/g, 'h'],
  [/([a-z])\1+/g, '$1'],
];

/** Folds one text: NFKD, no diacritics (ё survives as its own letter first), Cyrillic → Latin, lower case, variants evened out, anything else a space. */
export function foldForMatching(text: string): string {
  const lower = text.normalize('NFC').toLowerCase();
  let latin = '';
  for (const char of lower) {
    const mapped = CYRILLIC[char];
    if (mapped !== undefined) {
      latin += mapped;
      continue;
    }
    // é → e, ö → o: the base letter without its combining marks.
    latin += char.normalize('NFKD').replace(/\p{M}+/gu, '');
  }
  let folded = latin.replace(/[^\p{L}\p{N}]+/gu, ' ');
  for (const [pattern, replacement] of VARIANTS) folded = folded.replace(pattern, replacement);
  return folded.trim().replace(/ +/g, ' ');
}
