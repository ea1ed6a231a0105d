import type { BrokenEvent } from './types.ts';

export function canonicalJson(value: unknown): string;
export function canonicalParsedJson(value: unknown): string;
export function canonicalFromJsonText(text: string): string | null;
export interface ContentFields {
  id: string;
  streamId: string;
  version: number;
  type: string;
  data: string;
  metadata: string;
  recordedAt: string;
}
export function contentText(content: ContentFields): string;
export function contentDigest(content: ContentFields): Buffer;
export function chainDigest(prev: Uint8Array | null, content: Uint8Array): Buffer;
export interface ChainChecker {
  check(
    id: string,
    streamId: string,
    version: number,
    type: string,
    data: string,
    metadata: string,
    recordedAt: string,
    hash: string,
    prevHash: string | null,
  ): Exclude<BrokenEvent['reason'], 'position_gap'> | null;
}
export function createChainChecker(seed?: { streamId: string; version: number; hash: string } | null): ChainChecker;
