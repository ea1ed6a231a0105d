/** A repeated or comma-separated query parameter as one list of its values (`a,b` = `a&a=b`). */
export function splitCommas(value: unknown): unknown {
  const values = Array.isArray(value) ? value : [value];
  return values.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]));
}
