/**
 * Import rules, checked by `npm run check:imports` (dependency-cruiser; `.ci/run` runs it).
 *
 * The layers import downwards only:  bot → jobs → alerts → runbooks → domain → db.
 * db/ imports nothing of ours. No layer imports bench/, tools/ or test/.
 *
 * The composition root — the entry points that wire every layer together — lives in the top layer, bot/:
 * bot/main.ts (the service), bot/cli.ts with bot/cli-*.ts (the terminal CLI) and bot/assistant/eval/run.ts (the
 * assistant's eval). Outside the layers, bench/, tools/ and test/ may import any layer. db/migrate.ts and
 * db/migration-create.ts are entry points too, but need nothing above db/.
 */
const LAYERS = ['bot', 'jobs', 'alerts', 'runbooks', 'domain', 'db'];
const OUTSIDE = ['bench', 'tools', 'test'];

module.exports = {
  forbidden: LAYERS.map((layer, i) => ({
    name: `${layer}-imports-downwards-only`,
    comment: `${layer}/ may import ${LAYERS.slice(i + 1).join(', ') || 'nothing of ours'} (the stack is ${LAYERS.join(' → ')})`,
    severity: 'error',
    from: { path: `^${layer}/` },
    to: { path: `^(${[...LAYERS.slice(0, i), ...OUTSIDE].join('|')})/` },
  })),
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^dist/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
