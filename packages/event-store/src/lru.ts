/**
 * A Map that keeps at most `capacity` entries — and, when given a weight, at most
 * `maxWeight` in all — the least recently set out first (what the service's caches need:
 * a write or read refreshes its entry). Here because every package above the store uses it.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();
  private weight = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh?: { of(value: V): number; max: number },
  ) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    this.delete(key);
    if (this.capacity <= 0) return;
    this.entries.set(key, value);
    if (this.weigh) this.weight += this.weigh.of(value);
    while (this.entries.size > this.capacity || (this.weigh !== undefined && this.weight > this.weigh.max)) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: K): void {
    if (this.weigh) {
      const value = this.entries.get(key);
      if (value !== undefined) this.weight -= this.weigh.of(value);
    }
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.weight = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The sum of the entries' weights (0 without a weight). */
  get totalWeight(): number {
    return this.weight;
  }
}
