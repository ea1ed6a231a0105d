/**
 * What `/openapi.json` says about itself beyond the routes: where the API is served, under
 * which license, and the rule that every documented operation has an `operationId`
 * (generated clients name their methods after it; Redocly's recommended rules, checked by
 * test/openapi-lint.test.ts, require it).
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

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
