import type { RebuildMode, RebuildTimings } from './types.ts';

/**
 * Where a rebuild's time goes: phases lapped by wall time, index builds timed one by one,
 * handed to the caller's `onTimings` at the end. Without a receiver nothing is measured.
 */
export class RebuildTiming {
  private readonly phases = new Map<string, number>();
  private readonly indexes: { name: string; ms: number }[] = [];
  private lapStart = performance.now();

  constructor(
    private readonly mode: RebuildMode,
    private readonly receiver: ((timings: RebuildTimings) => void) | undefined,
  ) {}

  /** The wall time since the previous lap is added to `phase`. */
  lap(phase: string): void {
    if (!this.receiver) return;
    const now = performance.now();
    this.phases.set(phase, (this.phases.get(phase) ?? 0) + (now - this.lapStart));
    this.lapStart = now;
  }

  /** Times `create`, one index's build, reported after the phases. */
  async index<T>(name: string, create: () => Promise<T>): Promise<T> {
    const began = performance.now();
    const result = await create();
    if (this.receiver) this.indexes.push({ name, ms: performance.now() - began });
    return result;
  }

  report(): void {
    if (!this.receiver) return;
    this.receiver({ mode: this.mode, phases: [...this.phases].map(([phase, ms]) => ({ phase, ms })), indexes: [...this.indexes] });
  }
}

/**
 * One line for a run's timings: `[rebuild] swap setup=23ms build=1661ms … (claims_pkey=16ms …)`.
 */
export function formatRebuildTimings(timings: RebuildTimings): string {
  const phases = timings.phases.map((p) => `${p.phase}=${Math.round(p.ms)}ms`).join(' ');
  const indexes = timings.indexes.map((i) => `${i.name}=${Math.round(i.ms)}ms`).join(' ');
  return `[rebuild] ${timings.mode} ${phases}${indexes.length > 0 ? ` (${indexes})` : ''}`;
}
