// The layering of claimtrail, checked by test/layering.test.ts inside `npm test`.
// Run by hand: `npm run layers` (the same as: depcruise --config .dependency-cruiser.cjs \
//   --output-type err-long packages services seeds migrations test).
// Paths below are relative to the repository root, where the check runs.

/** Source of every workspace: what ships, as opposed to its tests and benchmarks. */
const SOURCE = '^(packages/[^/]+/src|services/[^/]+/src|seeds/src|migrations)/';
const MIGRATION_FILES = '^migrations/[^/]+\\.ts$';
const ROUTES = '^services/api/src/routes/';

/**
 * One rule per workspace: its shipped code imports only the workspace packages that its
 * package.json lists under dependencies (npm packages are checked by
 * source-declares-its-dependencies; workspace packages resolve to their real path, so they
 * need a rule of their own). Derived from the package.json files, so it never drifts.
 */
function workspaceDependencyRules() {
  const { readFileSync, readdirSync, existsSync } = require('node:fs');
  const { join } = require('node:path');
  const read = (path) => JSON.parse(readFileSync(join(__dirname, path), 'utf8'));
  const root = read('package.json');
  const dirs = root.workspaces.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(__dirname, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => `${pattern.slice(0, -2)}/${entry.name}`)
      : [pattern],
  );
  const workspaces = dirs
    .filter((dir) => existsSync(join(__dirname, dir, 'package.json')))
    .map((dir) => ({ dir, manifest: read(`${dir}/package.json`) }));
  const dirOf = new Map(workspaces.map(({ dir, manifest }) => [manifest.name, dir]));
  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return workspaces.map(({ dir, manifest }) => {
    const declared = Object.keys(manifest.dependencies ?? {})
      .filter((name) => dirOf.has(name))
      .map((name) => dirOf.get(name));
    const shipped = dir === 'migrations' ? MIGRATION_FILES : `^${escape(dir)}/src/`;
    return {
      name: 'declared-workspace-dependencies',
      comment:
        `${manifest.name} lists its workspace dependencies in ${dir}/package.json; importing ` +
        'another workspace package from its source without declaring it hides a layer from ' +
        'turbo and npm.',
      severity: 'error',
      from: { path: shipped },
      to: {
        path: workspaces.map((other) => `^${escape(other.dir)}/`),
        pathNot: [dir, ...declared].map((allowed) => `^${escape(allowed)}/`),
      },
    };
  });
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment:
        'The domain is the pure claim workflow (decide, evolve, the policy table): it must stay ' +
        'testable without I/O and usable by every layer, so it imports only its own files — no ' +
        'other workspace package, no npm package, no Node.js module.',
      severity: 'error',
      from: { path: '^packages/domain/src/' },
      to: { pathNot: '^packages/domain/src/' },
    },
    {
      name: 'event-store-knows-no-claims',
      comment:
        'The event store is generic (streams, events, the sequencer, the hash chain): it knows ' +
        'nothing of what is stored in it, so it never imports the workspaces built on top of it.',
      severity: 'error',
      from: { path: '^packages/event-store/src/' },
      to: {
        path: [
          '^packages/(claims|claimreview|client|contract|domain|identity|testing)/',
          '^services/',
          '^seeds/',
          '^migrations/',
        ],
      },
    },
    {
      name: 'event-store-tests-use-its-own-schema',
      comment:
        'The event store owns its schema (src/schema/): its tests and benchmarks create it with ' +
        'the store\u2019s own migrations and never import the application\u2019s migrations or ' +
        'packages, so the store is checked alone.',
      severity: 'error',
      from: { path: '^packages/event-store/(test|bench)/' },
      to: {
        path: [
          '^packages/(claims|claimreview|client|contract|domain|identity)/',
          '^services/',
          '^seeds/',
          '^migrations/',
        ],
      },
    },
    {
      name: 'no-circular',
      comment:
        'An import circle means no module of it can be understood, tested or moved alone; the ' +
        'shared part belongs in a module of its own that the others import. Type-only imports ' +
        'count too: they couple the files just the same.',
      severity: 'error',
      from: { path: SOURCE },
      to: { circular: true },
    },
    {
      name: 'routes-never-import-routes',
      comment:
        'A route file only translates HTTP for its own endpoints. What two routes share (schemas, ' +
        'reply helpers, application logic) lives outside routes/ — in src/http/, src/audit/, ' +
        'the contract or the claims package — so routes can be read, moved and deleted one by one. ' +
        'routes/index.ts is the one module that registers them all.',
      severity: 'error',
      from: { path: ROUTES, pathNot: `${ROUTES}index\\.ts$` },
      to: { path: ROUTES },
    },
    {
      name: 'only-the-app-imports-routes',
      comment:
        'Routes are the HTTP edge and are registered by the app alone; a CLI, a benchmark, a ' +
        'plugin or any other module that needs what a route does calls the module the route ' +
        'calls, not the route.',
      severity: 'error',
      from: {
        pathNot: [ROUTES, '^services/api/src/app\\.ts$', '^services/api/test/'],
      },
      to: { path: ROUTES },
    },
    {
      name: 'clis-and-benchmarks-never-import-routes',
      comment:
        'CLIs and benchmarks run the same application code as the service, without HTTP in ' +
        'between; importing a route would make them depend on Fastify wiring (kept as its own ' +
        'rule so a violation names the reason).',
      severity: 'error',
      from: {
        path: [
          '^services/api/src/cli/',
          '^seeds/src/cli\\.ts$',
          '^migrations/cli\\.ts$',
          '(^|/)bench/',
        ],
      },
      to: { path: ROUTES },
    },
    {
      name: 'packages-never-import-the-service',
      comment:
        'Packages are the layers under the HTTP service; the service composes them, never the ' +
        'other way round.',
      severity: 'error',
      from: { path: ['^packages/[^/]+/(src|bench)/', '^seeds/src/', '^migrations/'] },
      to: { path: '^services/' },
    },
    {
      name: 'source-never-imports-tests',
      comment:
        'Shipped code must not depend on test code: test helpers live in @claimtrail/testing ' +
        'and are imported by tests only.',
      severity: 'error',
      from: { path: SOURCE, pathNot: '^packages/testing/' },
      to: { path: ['(^|/)test/', '^packages/testing/'] },
    },
    {
      name: 'migrations-are-leaves',
      comment:
        'A migration describes a schema at one point in time; importing application code would ' +
        'let a later change of that code rewrite history. Migrations may use Kysely and the ' +
        'event store\u2019s own migrations only.',
      severity: 'error',
      from: { path: MIGRATION_FILES, pathNot: '^migrations/cli\\.ts$' },
      to: { path: ['^packages/(?!event-store/)', '^services/', '^seeds/'] },
    },
    {
      name: 'source-declares-its-dependencies',
      comment:
        'Every npm or workspace package that shipped code imports is listed in the dependencies ' +
        'of its own package.json, so the workspace graph (turbo, npm) matches the import graph and ' +
        'no package works only because a neighbour happened to install something.',
      severity: 'error',
      // board/build.ts is the build script that bundles the board page (`npm run build`), never
      // loaded by the running service; it uses the root's esbuild devDependency.
      from: { path: SOURCE, pathNot: '^services/api/src/board/build\\.ts$' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown', 'npm-dev'] },
    },
    {
      name: 'no-orphans',
      comment:
        'A source file that imports nothing and is imported by nothing is dead code or a ' +
        'forgotten entry point; delete it or wire it in.',
      severity: 'error',
      from: { orphan: true, path: SOURCE, pathNot: '\\.d\\.[cm]?ts$' },
      to: {},
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that cannot be resolved is a typo or a missing dependency.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    ...workspaceDependencyRules(),
  ],
  options: {
    // Workspace packages are reached through node_modules symlinks and resolved to their real
    // path, so `@claimtrail/domain` counts as packages/domain/src/index.ts; third-party packages
    // are recorded but never followed.
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(packages|services)/[^/]+/dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'types', 'node', 'default'],
      mainFields: ['module', 'main', 'types'],
      extensions: ['.ts', '.mts', '.mjs', '.js', '.json', '.d.ts'],
    },
    skipAnalysisNotInRules: true,
  },
};
