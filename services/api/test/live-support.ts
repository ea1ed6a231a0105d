/**
 * Shared helpers of the live tests: real services (buildApp on a real port against a real
 * PostgreSQL database), real websocket clients, writers through the typed client.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { ClaimtrailClient, type EventMessage, type ServerMessage, type WebSocketConstructor } from '@claimtrail/client';
import type { LivePluginOptions } from '../src/live/index.ts';
import { buildApp } from '../src/app.ts';

export interface Instance {
  app: FastifyInstance;
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string;
  tokens: { editor: string; fact_checker: string; auditor: string; admin: string };
  client(role?: keyof Instance['tokens']): ClaimtrailClient;
  close(): Promise<void>;
}

export async function startInstance(
  databaseUrl: string,
  live: LivePluginOptions = {},
  options: { seed?: boolean } = {},
): Promise<Instance> {
  const app = await buildApp({
    config: { databaseUrl, rateLimitMax: 0, logLevel: 'warn' },
    logger: false,
    seed: options.seed ?? false,
    demoTokens: true,
    live,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const demo = app.demoTokens;
  const tokens = {
    editor: demo.editor!,
    fact_checker: demo.fact_checker!,
    auditor: demo.auditor!,
    admin: demo.admin!,
  };
  return {
    app,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    tokens,
    client: (role = 'editor') =>
      new ClaimtrailClient({ baseUrl: url, token: tokens[role], WebSocket: WebSocket as unknown as WebSocketConstructor }),
    close: () => app.close(),
  };
}

/** A raw websocket client that records every message, for protocol-level assertions. */
export class Watcher {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as ServerMessage);
      this.notify();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: String(reason) });
        this.notify();
      });
    });
    socket.on('error', () => undefined);
  }

  static connect(wsUrl: string, token: string, options: WebSocket.ClientOptions = {}): Promise<Watcher> {
    const socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`, options);
    const watcher = new Watcher(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(watcher));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  events(channel?: string, claimId?: string): EventMessage[] {
    return this.messages.filter(
      (m): m is EventMessage =>
        m.type === 'event' && (!channel || m.channel === channel) && (!claimId || m.claimId === claimId),
    );
  }

  /** Resolves when `predicate` holds (checked on every message); rejects after `ms`. */
  async until(predicate: () => boolean, ms = 30_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.close();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export async function eventually(predicate: () => boolean | Promise<boolean>, ms = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Positions must be strictly increasing: in order and never twice. */
export function assertStrictlyIncreasing(positions: number[], label: string): void {
  for (let i = 1; i < positions.length; i++) {
    if (!(positions[i]! > positions[i - 1]!)) {
      throw new Error(`${label}: position ${positions[i]} after ${positions[i - 1]} (index ${i})`);
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
