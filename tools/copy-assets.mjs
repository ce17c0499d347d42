// `npm run build`, after tsc: copies the data files the compiled code reads next to itself into dist/.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ASSETS = ['domain/scoring/rules/scoring-rules.v1.json', 'domain/personalization/spam_rules.json', 'alerts/prometheus/leadfactory.rules.yml'];
for (const file of ASSETS) {
  const to = join('dist', file);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(file, to);
}
