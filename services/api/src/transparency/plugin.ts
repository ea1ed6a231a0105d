import type { FastifyInstance } from 'fastify';
import { parseVerifierKey } from '@claimtrail/transparency';
import { isMemoryDataDir } from '../demo-tokens.ts';
import { loadCheckpointSigner } from './keys.ts';
import { TransparencyLog } from './log.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The log's Merkle tree and signed checkpoints (transparency/log.ts). */
    transparency: TransparencyLog;
  }
}

/**
 * Loads the checkpoint key (transparency/keys.ts), decorates `app.transparency` and runs its
 * job from the moment the app is ready until it closes.
 */
export async function registerTransparency(app: FastifyInstance, options: { ownsDatabase: boolean }): Promise<void> {
  const { config } = app;
  const embedded = options.ownsDatabase && config.databaseUrl === undefined;
  const choice = await loadCheckpointSigner({
    keyFile: config.checkpointKeyFile,
    embeddedDataDir: embedded && !isMemoryDataDir(config.dataDir) ? config.dataDir : undefined,
    ephemeralAllowed: !options.ownsDatabase || embedded,
    publicUrl: config.publicUrl,
    db: app.database.db,
  });
  const log = new TransparencyLog(app.database.db, {
    signer: choice.signer,
    witnesses: config.witnessKeys.map((key) => parseVerifierKey(key)),
    intervalMs: config.checkpointIntervalMs,
    onError: (error) => app.log.warn({ err: error }, 'transparency log: extending the tree or signing a checkpoint failed (retried)'),
  });
  app.decorate('transparency', log);
  app.log.info({ key: log.verifierKey(), source: choice.source }, 'checkpoint signer key');
  if (choice.source === 'database') {
    app.log.warn(
      'no CHECKPOINT_KEY_FILE: checkpoints are signed with a key kept in the database, which anyone who can read the database could sign with; set CHECKPOINT_KEY_FILE in production (see docs/transparency.md)',
    );
  }
  app.addHook('onReady', async () => {
    log.start();
  });
  app.addHook('onClose', async () => {
    await log.close();
  });
}
