import { describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { TokenAuthenticator, ensureUsers, issueToken, revokeToken } from '../src/index.ts';

describe('tokens', () => {
  it('authenticates hashed tokens, forgets revoked ones after the cache', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    try {
      await migrateToLatest(database.db, migrations);
      await ensureUsers(database.db, [{ id: 'u1', role: 'editor', name: 'U' }]);
      const token = await issueToken(database.db, 'u1');
      const stored = await database.db.selectFrom('api_tokens').select('token_hash').execute();
      expect(stored[0]!.token_hash).not.toBe(token);
      expect(stored[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
      const auth = new TokenAuthenticator(database.db, 0);
      expect(await auth.authenticate(token)).toEqual({ id: 'u1', role: 'editor', name: 'U' });
      expect(await auth.authenticate(`${token}x`)).toBeNull();
      await revokeToken(database.db, token);
      expect(await auth.authenticate(token)).toBeNull();
    } finally {
      await database.close();
    }
  });
});
