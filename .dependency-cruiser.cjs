/**
 * Tandem's layers (ARCHITECTURE.md): each folder of src/ may import only the folders listed
 * for it, so an upward import fails `npm test` (it runs `npm run lint:deps`) instead of
 * waiting for a reviewer. Type-only imports count: a type pulled from above couples as much.
 */
const LAYERS = {
  core: [],
  protocols: ['core'],
  crypto: ['core', 'protocols'],
  wallet: ['core'],
  policy: ['core'],
  observability: ['core'],
  ceremony: ['core', 'protocols', 'crypto'],
  api: ['core', 'protocols', 'policy', 'wallet'],
  relay: ['core', 'observability'],
  db: ['core', 'crypto', 'observability'],
  http: ['core', 'ceremony', 'api', 'observability'],
  storage: ['core', 'protocols', 'crypto', 'ceremony', 'policy', 'api', 'wallet', 'db'],
  node: ['core', 'protocols', 'crypto', 'ceremony', 'policy', 'api', 'wallet', 'db', 'storage', 'relay', 'http', 'observability'],
  sdk: ['core', 'protocols', 'crypto', 'ceremony', 'policy', 'api', 'wallet', 'relay'],
  gateway: ['core', 'protocols', 'crypto', 'policy', 'api', 'wallet', 'db', 'relay', 'http', 'observability', 'sdk'],
  cluster: ['core', 'protocols', 'crypto', 'wallet', 'policy', 'ceremony', 'api', 'db', 'storage', 'relay', 'observability', 'node', 'gateway', 'sdk'],
};

const layerRules = Object.entries(LAYERS).map(([layer, below]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} may import only ${below.length ? below.map((l) => `src/${l}`).join(', ') : 'nothing else in src'}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: '^src/', pathNot: [`^src/(${[layer, ...below].join('|')})/`] },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'a cycle makes two modules one: neither can be read, tested or replaced alone',
      severity: 'error',
      from: { path: '^(src|test|bench|scripts)/' },
      to: { circular: true },
    },
    {
      name: 'engines-apart',
      comment: 'each protocol engine stands alone; what two share lives in protocols/ beside them (derivation/, errors, platform/)',
      severity: 'error',
      from: { path: '^src/protocols/(frost|dkls23)/' },
      to: { path: '^src/protocols/(frost|dkls23)/', pathNot: ['^src/protocols/$1/'] },
    },
    {
      name: 'src-not-tests',
      comment: 'production code never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: ['^(typebox|@nats-io/jetstream)'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|web)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], mainFields: ['module', 'main', 'types', 'typings'] },
  },
};
