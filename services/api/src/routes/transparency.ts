/**
 * The transparency log's routes (docs/transparency.md): the latest signed checkpoint of the
 * log's Merkle tree, its public key, inclusion and consistency proofs (RFC 9162 hashes in
 * base64), and witnesses' cosignatures.
 *
 * Policy: like `/audit/verify`, roles auditor, editor and admin (others 403, no token 401).
 * They only read, except the cosignature POST, which only adds a witness's signature that
 * verifies against a configured witness key (WITNESS_KEYS).
 */
import type { FastifyPluginAsync } from 'fastify';
import { ProblemSchema } from '@claimtrail/contract';
import type { Role } from '@claimtrail/domain';
import { leafAt, storedConsistencyProof, storedInclusionProof, treeSize } from '@claimtrail/event-store';
import { HttpProblem } from '../errors.ts';
import { requireRole } from '../plugins/auth.ts';
import { SECURED } from '../http/conventions.ts';

const TRANSPARENCY_ROLES: readonly Role[] = ['auditor', 'editor', 'admin'];
const MAX = Number.MAX_SAFE_INTEGER;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const TEXT = 'text/plain; charset=utf-8';

const ProofHashes = { type: 'array', items: { type: 'string', contentEncoding: 'base64' } } as const;

export const transparencyRoutes: FastifyPluginAsync = async (app) => {
  /** The tree size a proof is asked against: at most the stored tree's. */
  async function checkSize(name: string, size: number): Promise<void> {
    const stored = await treeSize(app.database.db);
    if (size > stored) {
      throw new HttpProblem('validation', `${name} ${size} is larger than the tree (${stored} leaves)`, { field: name });
    }
  }
  /** The default size of a proof: the latest checkpoint's, else the stored tree's. */
  async function defaultSize(): Promise<number> {
    const latest = await app.transparency.checkpoint();
    return latest?.checkpoint.treeSize ?? (await treeSize(app.database.db));
  }

  app.get(
    '/audit/checkpoint',
    {
      schema: {
        tags: ['audit'],
        operationId: 'getCheckpoint',
        summary: 'The latest signed checkpoint of the log\'s Merkle tree (C2SP signed note), with witness cosignatures',
        description: 'Roles auditor, editor, admin. text/plain: origin, tree size, base64 root hash, a blank line, signature lines.',
        security: SECURED,
        response: { 200: { type: 'string' }, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      requireRole(request, TRANSPARENCY_ROLES);
      if (!app.transparency.signing) throw new HttpProblem('not_found', 'this service signs no checkpoints (no CHECKPOINT_KEY_FILE)');
      const latest = await app.transparency.checkpoint();
      if (!latest) throw new HttpProblem('not_found', 'no checkpoint has been signed yet');
      return reply.header('content-type', TEXT).header('cache-control', 'no-store').header('x-tree-size', String(latest.checkpoint.treeSize)).send(latest.note);
    },
  );

  app.get(
    '/audit/checkpoint/key',
    {
      schema: {
        tags: ['audit'],
        operationId: 'getCheckpointKey',
        summary: 'The checkpoints\' verifier key (<name>+<key id hex>+<base64 of 0x01 and the Ed25519 key>)',
        description: 'Roles auditor, editor, admin. text/plain, one line. An auditor should obtain it once, out of band, and keep it.',
        security: SECURED,
        response: { 200: { type: 'string' }, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      requireRole(request, TRANSPARENCY_ROLES);
      const key = app.transparency.verifierKey();
      if (key === undefined) throw new HttpProblem('not_found', 'this service signs no checkpoints (no CHECKPOINT_KEY_FILE)');
      return reply.header('content-type', TEXT).send(`${key}\n`);
    },
  );

  app.get<{ Querystring: { position: number; size?: number } }>(
    '/audit/proof/inclusion',
    {
      schema: {
        tags: ['audit'],
        operationId: 'getInclusionProof',
        summary: 'RFC 9162 inclusion proof of the event at ?position= in the tree of ?size= leaves (default: the latest checkpoint)',
        description: 'Roles auditor, editor, admin. Leaf index = position − 1; hashes in base64, leaf to root.',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['position'],
          properties: { position: { type: 'integer', minimum: 1, maximum: MAX }, size: { type: 'integer', minimum: 1, maximum: MAX } },
        },
        response: {
          200: {
            type: 'object',
            required: ['position', 'leafIndex', 'treeSize', 'leafHash', 'hashes', 'event'],
            properties: {
              position: { type: 'integer' },
              leafIndex: { type: 'integer' },
              treeSize: { type: 'integer' },
              leafHash: { type: 'string' },
              hashes: ProofHashes,
              event: {
                type: 'object',
                properties: { id: { type: 'string' }, streamId: { type: 'string' }, version: { type: 'integer' }, hash: { type: 'string' } },
              },
            },
          },
          400: ProblemSchema,
          401: ProblemSchema,
          403: ProblemSchema,
        },
      },
    },
    async (request) => {
      requireRole(request, TRANSPARENCY_ROLES);
      const { position } = request.query;
      const size = request.query.size ?? (await defaultSize());
      if (position > size) throw new HttpProblem('validation', `position ${position} is not in a tree of ${size} leaves`, { field: 'position' });
      await checkSize('size', size);
      const leaf = await leafAt(app.database.db, position);
      if (!leaf) throw new HttpProblem('validation', `no event at position ${position}`, { field: 'position' });
      const hashes = await storedInclusionProof(app.database.db, position - 1, size);
      return {
        position,
        leafIndex: position - 1,
        treeSize: size,
        leafHash: b64(leaf.leafHash),
        hashes: hashes.map(b64),
        event: { id: leaf.id, streamId: leaf.streamId, version: leaf.version, hash: leaf.hash },
      };
    },
  );

  app.get<{ Querystring: { from: number; to?: number } }>(
    '/audit/proof/consistency',
    {
      schema: {
        tags: ['audit'],
        operationId: 'getConsistencyProof',
        summary: 'RFC 9162 consistency proof from the tree of ?from= leaves to the tree of ?to= leaves (default: the latest checkpoint)',
        description: 'Roles auditor, editor, admin. Hashes in base64.',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from'],
          properties: { from: { type: 'integer', minimum: 1, maximum: MAX }, to: { type: 'integer', minimum: 1, maximum: MAX } },
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'hashes'],
            properties: { from: { type: 'integer' }, to: { type: 'integer' }, hashes: ProofHashes },
          },
          400: ProblemSchema,
          401: ProblemSchema,
          403: ProblemSchema,
        },
      },
    },
    async (request) => {
      requireRole(request, TRANSPARENCY_ROLES);
      const { from } = request.query;
      const to = request.query.to ?? (await defaultSize());
      if (from > to) throw new HttpProblem('validation', `from ${from} is larger than to ${to}`, { field: 'from' });
      await checkSize('to', to);
      const hashes = await storedConsistencyProof(app.database.db, from, to);
      return { from, to, hashes: hashes.map(b64) };
    },
  );

  app.post<{ Body: { treeSize: number; cosignature: string } }>(
    '/audit/checkpoint/cosignatures',
    {
      schema: {
        tags: ['audit'],
        operationId: 'addCheckpointCosignature',
        summary: 'A witness\'s C2SP tlog-cosignature/v1 line over a stored checkpoint',
        description:
          'Roles auditor, admin. The line ("— <witness name> <base64>") must verify against one of WITNESS_KEYS over the checkpoint ' +
          'of treeSize. 201 stored, 200 already stored; it is then served after the checkpoint\'s signature.',
        security: SECURED,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['treeSize', 'cosignature'],
          properties: { treeSize: { type: 'integer', minimum: 0, maximum: MAX }, cosignature: { type: 'string', minLength: 1, maxLength: 1000 } },
        },
        response: {
          200: { type: 'object', properties: { stored: { type: 'boolean' } } },
          201: { type: 'object', properties: { stored: { type: 'boolean' } } },
          400: ProblemSchema,
          401: ProblemSchema,
          403: ProblemSchema,
          404: ProblemSchema,
        },
      },
    },
    async (request, reply) => {
      requireRole(request, ['auditor', 'admin']);
      const outcome = await app.transparency.addCosignature(request.body.treeSize, request.body.cosignature);
      switch (outcome) {
        case 'stored':
          return reply.code(201).send({ stored: true });
        case 'duplicate':
          return reply.code(200).send({ stored: false });
        case 'unknown_checkpoint':
          throw new HttpProblem('not_found', `no checkpoint of tree size ${request.body.treeSize}`);
        case 'unknown_witness':
          throw new HttpProblem('validation', 'the cosignature is not by a witness key this service knows (WITNESS_KEYS)', { field: 'cosignature' });
        case 'invalid':
          throw new HttpProblem('validation', 'the cosignature line is malformed or does not verify over that checkpoint', { field: 'cosignature' });
      }
    },
  );
};
