/**
 * `records` as a JSON array, each object extended with nested JSON texts given as strings
 * (inserted verbatim: a view keeps the exact text `JSON.stringify` gave it once).
 */
export function jsonRecords<T extends object>(records: readonly T[], nested: (record: T, index: number) => Record<string, string>): string {
  const parts = records.map((record, index) => {
    const own = JSON.stringify(record);
    const extra = Object.entries(nested(record, index))
      .map(([key, json]) => `,${JSON.stringify(key)}:${json}`)
      .join('');
    return own === '{}' ? `{${extra.slice(1)}}` : `${own.slice(0, -1)}${extra}}`;
  });
  return `[${parts.join(',')}]`;
}
