/**
 * The OpenAPI document (`/openapi.json`, the docs page): what it says about itself beyond
 * the routes — where the API is served, under which license, how its errors are sent —
 * and the rule that every documented operation has an `operationId` (generated clients
 * name their methods after it; Redocly's recommended rules, checked by
 * test/openapi-lint.test.ts, require it).
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, RouteOptions } from 'fastify';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import { ERROR_CATALOGUE, PROBLEM_CONTENT_TYPE, ProblemSchema } from '@claimtrail/contract';
import type { Config } from '../config.ts';
import { docsPlugin } from './security-headers.ts';

export const API_VERSION = '1.0.0';

/**
 * The repository grants no license (no LICENSE file, every package.json is private and
 * names none): the document says so rather than inventing one. `LicenseRef-` is SPDX's
 * form for a license that is not on its list.
 */
export const OPENAPI_LICENSE = { name: 'Proprietary (all rights reserved)', identifier: 'LicenseRef-Proprietary' } as const;

/** The API's base URL: `PUBLIC_URL` when set, else relative to wherever the document was fetched. */
export function openApiServers(publicUrl: string | undefined): { url: string; description: string }[] {
  if (publicUrl) return [{ url: publicUrl.replace(/\/+$/, '') || '/', description: 'This deployment (PUBLIC_URL)' }];
  return [{ url: '/', description: 'The server this document was fetched from' }];
}

/** camelCase, starting with a verb by convention (`listClaims`, `triageClaim`). */
const OPERATION_ID = /^[a-z][a-zA-Z0-9]*$/;

/**
 * Refuses, at registration, a route that would appear in the OpenAPI document without an
 * operationId, with a malformed one, or with one another route already has. A route is in
 * the document unless its schema says `hide: true` (HEAD routes Fastify adds for GET ones
 * are left out too). Register before the routes.
 */
export function requireOperationIds(app: FastifyInstance): void {
  const taken = new Map<string, string>();
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    const schema = route.schema as { hide?: boolean; operationId?: unknown } | undefined;
    if (methods.length === 0 || schema?.hide === true) return;
    const name = `${methods.join(',')} ${route.url}`;
    const id = schema?.operationId;
    if (typeof id !== 'string' || !OPERATION_ID.test(id)) {
      throw new Error(
        `route ${name} has ${id === undefined ? 'no operationId' : `operationId ${JSON.stringify(id)}, not camelCase`}: ` +
          'every route in /openapi.json needs a unique camelCase schema.operationId (e.g. listUsers), or schema.hide: true',
      );
    }
    const other = taken.get(id);
    if (other !== undefined) throw new Error(`route ${name}: operationId ${id} is already used by ${other}`);
    taken.set(id, name);
  });
}

type MediaTypes = Record<string, { schema?: { title?: string } & Record<string, unknown> }>;
type Responses = Record<string, { description?: string; content?: MediaTypes; headers?: Record<string, unknown> } & Record<string, unknown>>;
interface Operation {
  responses?: Responses;
  parameters?: unknown[];
  security?: unknown[];
}
interface OpenApiDocument {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown>; parameters?: Record<string, unknown>; headers?: Record<string, unknown> } & Record<string, unknown>;
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' } as const;
/** How a response schema is recognised as the Problem schema (its `title`). */
const PROBLEM_TITLE = (ProblemSchema as { title?: string }).title;

/** "403 (problem+json): `forbidden_role` (Your role may not do this), …": the codes a status carries. */
export function errorResponseDescription(status: string): string {
  const numeric = Number(status);
  const codes = Object.entries(ERROR_CATALOGUE).filter(([, entry]) => entry.status === numeric);
  const range = /^[45]XX$/i.test(status) ? `Any ${status[0]}xx` : `${status} ${STATUS_CODES[numeric] ?? ''}`.trim();
  if (codes.length === 0) return `${range} (${PROBLEM_CONTENT_TYPE}; \`code\` says why)`;
  return `${range} (${PROBLEM_CONTENT_TYPE}), ${codes.length === 1 ? 'code' : 'codes'}: ${codes.map(([code, entry]) => `\`${code}\` (${entry.title})`).join(', ')}`;
}

/**
 * @fastify/swagger documents a response schema under the route's media type
 * (`application/json`, or `text/plain` for /metrics) as a "Default Response"; every error
 * is sent as application/problem+json (errors.ts). A response whose schema is the Problem
 * schema is rewritten here to that media type, a reference to one `Problem` component
 * and a description naming the codes of its status (the route's own description, when it
 * has one, comes first).
 */
export const problemResponses: SwaggerTransformObject = (documentObject) => {
  if (!('openapiObject' in documentObject)) return documentObject.swaggerObject;
  const document = documentObject.openapiObject as OpenApiDocument;
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (!/^[45]/.test(status)) continue;
        const schemas = Object.values(response.content ?? {}).map((media) => media.schema);
        if (schemas.length === 0 || !schemas.every((schema) => schema?.title === PROBLEM_TITLE)) continue;
        const own = response.description !== undefined && response.description !== 'Default Response' ? `${response.description}. ` : '';
        response.description = `${own}${errorResponseDescription(status)}`;
        response.content = { [PROBLEM_CONTENT_TYPE]: { schema: { ...PROBLEM_REF } } };
      }
    }
  }
  document.components = { ...document.components, schemas: { ...document.components?.schemas, Problem: JSON.parse(JSON.stringify(ProblemSchema)) as unknown } };
  return documentObject.openapiObject;
};

const CONSISTENCY_TOKEN_PARAMETER = {
  name: 'Consistency-Token',
  in: 'header',
  required: false,
  description:
    'A position a write answered with (its `Consistency-Token`): the read is answered once this instance has caught up to it, ' +
    'so it shows that write and everything before it. Waits at most CONSISTENCY_WAIT_MS (2 s), then `503 not_caught_up` with ' +
    '`Retry-After: 1`; a value that is not a decimal position is `400 validation`.',
  schema: { type: 'string', pattern: '^\\s*[0-9]{1,16}\\s*$', examples: ['1234'] },
} as const;

const CONSISTENCY_TOKEN_HEADER = {
  description:
    'The position that covers this write (decimal). Send it as `Consistency-Token` with a later read, on any instance, to see this write.',
  schema: { type: 'string', pattern: '^[0-9]+$' },
} as const;

/**
 * `Consistency-Token` (plugins/consistency.ts) in the document: every write (POST, all of
 * them claim commands) answers with it on success; every read that needs a token accepts
 * it, and may then answer 503 `not_caught_up` (and 400 for a malformed one). Public reads
 * (`security: []`) ignore it.
 */
export function documentConsistencyTokens(document: OpenApiDocument): void {
  const problem = (status: string) => ({ description: errorResponseDescription(status), content: { [PROBLEM_CONTENT_TYPE]: { schema: { ...PROBLEM_REF } } } });
  for (const operations of Object.values(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      if (method === 'post') {
        for (const [status, response] of Object.entries(operation.responses ?? {})) {
          if (!/^2/.test(status)) continue;
          response.headers = { ...response.headers, 'Consistency-Token': { $ref: '#/components/headers/ConsistencyToken' } };
        }
      } else if (method === 'get' && !(Array.isArray(operation.security) && operation.security.length === 0)) {
        operation.parameters = [...(operation.parameters ?? []), { $ref: '#/components/parameters/ConsistencyToken' }];
        const responses = (operation.responses ??= {});
        responses['400'] ??= problem('400');
        responses['503'] ??= problem('503');
      }
    }
  }
  document.components = {
    ...document.components,
    parameters: { ...document.components?.parameters, ConsistencyToken: CONSISTENCY_TOKEN_PARAMETER },
    headers: { ...document.components?.headers, ConsistencyToken: CONSISTENCY_TOKEN_HEADER },
  };
}

/**
 * The document, its docs page and `GET /openapi.json`. Registered before the routes: the
 * operationId rule and the document both see routes as they are added.
 */
export async function registerOpenApi(app: FastifyInstance, config: Config): Promise<void> {
  requireOperationIds(app);
  await app.register(swagger, {
    transformObject: (documentObject) => {
      const document = problemResponses(documentObject);
      if ('openapi' in document) documentConsistencyTokens(document as OpenApiDocument);
      return document;
    },
    openapi: {
      openapi: '3.1.0',
      servers: openApiServers(config.publicUrl),
      info: {
        title: 'claimtrail',
        version: API_VERSION,
        license: OPENAPI_LICENSE,
        description:
          'Event-sourced fact-check workflow. Errors are application/problem+json (RFC 9457) with a stable `code`. ' +
          'Writes return `ETag: "<version>"` and `Consistency-Token` (send it with a later read, on any instance, to see the write), ' +
          'honour `If-Match` (412 when stale) and `Idempotency-Key`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'claims', description: 'Submit, read, list, search, board' },
        { name: 'workflow', description: 'Workflow steps' },
        { name: 'audit', description: 'History and time travel' },
        { name: 'feed', description: 'Global event feed' },
        { name: 'users', description: 'The user directory' },
        { name: 'system', description: 'Health, readiness, metrics' },
      ],
    },
  });
  await app.register(docsPlugin);
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
}
