/**
 * Entry point (`npm start`): read the configuration, build the app, listen, print where it
 * listens (banner.ts) and (embedded default / DEMO_TOKENS=1) the demo tokens, close
 * gracefully on signals.
 */
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { buildApp } from './app.ts';
import { startBanner } from './banner.ts';
import { databaseOpenFailure } from './cli/support.ts';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }

  const app = await buildApp({ config });
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });

  await app.listen({ port: config.port, host: config.host });
  console.log(
    startBanner({
      bound: app.addresses().filter((a) => typeof a !== 'string'),
      database: app.database.kind === 'pglite' ? `embedded PGlite in ${config.dataDir}` : 'PostgreSQL',
      demoTokens: app.demoTokens,
    }),
  );
}

main().catch((error: unknown) => {
  // Another process on the embedded folder, or a folder PGlite cannot open: say so, no stack.
  const openFailure = databaseOpenFailure(error);
  if (openFailure) {
    console.error(openFailure.message);
    process.exit(openFailure.exitCode);
  }
  console.error('claimtrail failed to start:', error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
