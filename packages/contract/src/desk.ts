/**
 * Desk operations (docs/desk-operations.md): duplicate suggestions, notifications, desk
 * analytics. Request schemas strict, responses open, as in schemas.ts.
 */
import { Type } from 'typebox';
import { ClaimCardSchema } from './schemas.ts';

const strict = { additionalProperties: false } as const;
const open = { additionalProperties: true } as const;

export const SIMILAR_DEFAULT_LIMIT = 10;
export const SIMILAR_MAX_LIMIT = 50;

export const SimilarClaimsQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SIMILAR_MAX_LIMIT, default: SIMILAR_DEFAULT_LIMIT })),
  },
  { ...strict, title: 'SimilarClaimsQuery' },
);

export const SimilarClaimSchema = Type.Object(
  {
    claim: ClaimCardSchema,
    score: Type.Number({ minimum: 0, maximum: 1, description: '0.7 × wordScore + 0.2 × textScore + 0.1 × contextScore' }),
    wordScore: Type.Number({ minimum: 0, maximum: 1, description: 'Share of the claim text’s words the other claim uses, each weighed by its rarity: ln(1 + claims / claims using it)²' }),
    textScore: Type.Number({ minimum: 0, maximum: 1, description: 'Trigram similarity of the folded claim texts' }),
    contextScore: Type.Number({ minimum: 0, maximum: 1, description: 'Trigram similarity of the folded claimants and appearances' }),
  },
  { ...open, title: 'SimilarClaim' },
);

export const SimilarClaimsSchema = Type.Object(
  { items: Type.Array(SimilarClaimSchema, { description: 'Open and published claims, most similar first' }) },
  { ...open, title: 'SimilarClaims' },
);
