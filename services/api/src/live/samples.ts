/**
 * The latest N latency samples (ms) in a ring, for percentiles over a recent window; what
 * the hub keeps of how long events wait before their frames are handed to the sockets.
 */
export class LatencySamples {
  private readonly ring: Float64Array;
  private written = 0;

  constructor(capacity: number) {
    this.ring = new Float64Array(capacity);
  }

  /** Samples taken since the start (not only those kept). */
  get count(): number {
    return this.written;
  }

  add(ms: number): void {
    this.ring[this.written % this.ring.length] = ms;
    this.written++;
  }

  /** The p-th percentile (0–100) of the samples kept; NaN when there are none. */
  percentile(p: number): number {
    const kept = this.ring.slice(0, Math.min(this.written, this.ring.length)).sort();
    if (kept.length === 0) return Number.NaN;
    return kept[Math.min(kept.length - 1, Math.floor((p / 100) * kept.length))]!;
  }
}
