/** The rebuild's public types (options, progress, result, differences). */

export type RebuildMode = 'compare' | 'swap';

export interface RebuildProgress {
  phase: 'build' | 'catch-up' | 'compare' | 'swap' | 'done';
  events: number;
  claims: number;
}

export interface RebuildOptions {
  /** `swap` (default) replaces the live projection; `compare` only reports differences. */
  mode?: RebuildMode;
  /** Events read per query when paging (PGlite; default 5000). */
  batchSize?: number;
  /** At most this many differences are listed (default 100); `differences` counts them all. */
  maxDiffs?: number;
  /** Called every few thousand events and at each phase change. */
  onProgress?: (progress: RebuildProgress) => void;
  /**
   * Stream the events on another pooled connection (one COPY), and compute the search
   * vectors on a pooled connection too, while the transaction's connection writes
   * (PostgreSQL only: PGlite has a single connection). Holds three connections of the
   * pool at once: see `canReadConcurrently`. Default false.
   */
  concurrentReads?: boolean;
  /** How long to wait for writers to drain before the swap or compare (default 15000 ms). */
  lockTimeoutMs?: number;
  /**
   * Receives where the run's time went (each phase's wall time, then each index build's),
   * once, at the end of a run that completed. Without it nothing is timed.
   */
  onTimings?: (timings: RebuildTimings) => void;
}

export interface ProjectionDiff {
  claimId: string;
  streamId: string;
  /** missing: no live row; extra: live row without events; different: columns differ. */
  reason: 'missing' | 'extra' | 'different';
  /** The columns that differ (for `different`). */
  columns?: string[];
  liveVersion: number | null;
  rebuiltVersion: number | null;
}

export interface RebuildResult {
  mode: RebuildMode;
  /** Claims in the rebuilt projection. */
  claims: number;
  /** Events folded (the build pass plus the catch-up). */
  events: number;
  /** Number of rows that differ between live and rebuilt (before the swap, for `swap`). */
  differences: number;
  /** The first `maxDiffs` of them, by claim id. */
  diffs: ProjectionDiff[];
  /** True when the rebuilt table replaced the live one. */
  swapped: boolean;
  durationMs: number;
}

/** Where a rebuild's time went: see `RebuildOptions.onTimings` and `formatRebuildTimings`. */
export interface RebuildTimings {
  mode: RebuildMode;
  /** Wall time per phase in ms, in the order the phases first ran. */
  phases: { phase: string; ms: number }[];
  /** Wall time of each index build in ms, in the order they finished. */
  indexes: { name: string; ms: number }[];
}
