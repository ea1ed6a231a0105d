import { describe, expect, it } from 'vitest';
import { foldForMatching } from '../src/index.ts';

describe('foldForMatching', () => {
  it('folds every spelling of the seed case village to one key', () => {
    const spellings = ['Tyotkino', 'Tetkino', 'Tjotkino', 'Тёткино', 'Теткино', 'Tyetkino', 'Tiotkino', 'TYOTKINO'];
    const keys = new Set(spellings.map(foldForMatching));
    expect([...keys]).toEqual(['tetkino']);
  });

  it('transliterates Cyrillic text and keeps words apart', () => {
    expect(foldForMatching('Глушковский район')).toBe(foldForMatching('Glushkovskiy rayon'));
    expect(foldForMatching('Курская область')).toBe(foldForMatching('Kurskaya oblast'));
  });

  it('evens out the usual transliteration variants', () => {
    expect(foldForMatching('Jurij')).toBe(foldForMatching('Yuriy').replace(/y$/, 'j'));
    expect(foldForMatching('Kharkiv')).toBe(foldForMatching('Harkiv'));
    expect(foldForMatching('Rossiya')).toBe(foldForMatching('Rosiya'));
    expect(foldForMatching('Tetkino,Tyotkino')).toBe('tetkino tetkino');
  });

  it('drops diacritics, punctuation and case', () => {
    expect(foldForMatching('  Café — “Über naïve”!  ')).toBe('cafe uber naive');
    expect(foldForMatching('Ёлка')).toBe(foldForMatching('Yolka'));
  });

  it('keeps unrelated words apart', () => {
    expect(foldForMatching('Belgorod')).not.toBe(foldForMatching('Kursk'));
    expect(foldForMatching('Lozova Rudka')).toBe('lozova rudka');
  });

  it('is idempotent and total on hostile input', () => {
    for (const text of ['', '   ', '\u0000\uFFFF', '🙂🙂', 'a'.repeat(10_000), 'ё'.repeat(100), '\u202Eevil']) {
      const once = foldForMatching(text);
      expect(foldForMatching(once)).toBe(once);
      expect(once).not.toMatch(/^ | $|  /);
    }
  });
});
