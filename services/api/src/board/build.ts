/**
 * Bundles the board page (page/main.ts + @claimtrail/client) for the browser into
 * services/api/dist/board/. Run by `npm run build` (turbo) before the tests.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const page = fileURLToPath(new URL('./page/', import.meta.url));
export const boardDistDir = fileURLToPath(new URL('../../dist/board/', import.meta.url));

export async function buildBoard(): Promise<void> {
  await rm(boardDistDir, { recursive: true, force: true });
  await mkdir(boardDistDir, { recursive: true });
  await build({
    entryPoints: [`${page}main.ts`],
    outfile: `${boardDistDir}app.js`,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  await copyFile(`${page}styles.css`, `${boardDistDir}app.css`);
  await copyFile(`${page}index.html`, `${boardDistDir}index.html`);
  await writeFile(`${boardDistDir}build.json`, JSON.stringify({ builtAt: new Date().toISOString() }) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildBoard();
  console.log(`board bundle written to ${boardDistDir}`);
}
