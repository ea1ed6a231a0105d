import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats is CommonJS; depending on the loader its function is the default or the module.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

const shared: Options = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: false,
  // Unicode-aware patterns and lengths.
  unicodeRegExp: true,
};

/**
 * Bodies are validated as sent (no type coercion: `"text": 123` is a 400, not "123");
 * query strings, params and headers are text on the wire and are coerced.
 */
export function registerValidators(app: FastifyInstance): void {
  const bodyAjv = addFormats(new Ajv({ ...shared, coerceTypes: false }));
  const textAjv = addFormats(new Ajv({ ...shared, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodyAjv.compile(schema) : textAjv.compile(schema),
  );
  // Response schemas document the API (OpenAPI); serialisation is plain JSON.stringify so
  // an added field is never dropped and a shape mismatch never becomes a 500.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}
