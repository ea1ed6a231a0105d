import { it } from 'vitest';
import { prepareDatabase } from './support/db.ts';
import { call } from './support/http.ts';
import { startService, stopAllServices } from './support/service.ts';
it('dbg', async () => {
  const url = 'postgres://postgres@127.0.0.1:5432/ct_dbg1';
  const u = await prepareDatabase(url);
  const s = await startService({ databaseUrl: url });
  const r = await call(s.url, '/claims', { token: u.fact_checker.token, body: { text: 'hello' } });
  const v = await call(s.url, '/audit/verify', { token: u.editor.token });
  console.log(r.status, v.status, v.text);
  console.log(s.output().split('\n').filter((l) => l.includes('"level":50')).join('\n').slice(0, 3000));
  await stopAllServices();
});
