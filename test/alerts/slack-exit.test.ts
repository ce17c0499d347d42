/**
 * One Slack exit, held by a scan of the source: only the outbox transport (alerts/slack-transport.ts) calls the Web
 * API's write methods (chat.postMessage, chat.update, files upload, conversations.open for DMs), and no layer
 * creates a Slack client of its own — the one client is Bolt's `app.client` (bot/slack-client.ts), built by
 * bot/app.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = join(import.meta.dirname, '..', '..');
const LAYERS = ['bot', 'jobs', 'alerts', 'runbooks', 'domain', 'db'];
const TRANSPORT = 'alerts/slack-transport.ts';

/** Every source file of the layers (TypeScript and the worker's .mjs), as [path relative to the root, text]. */
function sources(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push([relative(ROOT, p), readFileSync(p, 'utf8')]);
    }
  };
  for (const layer of LAYERS) walk(join(ROOT, layer));
  return out;
}

/** Source text without comments, so a docstring naming chat.postMessage is not a call. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const WRITE_CALLS = /\.\s*(chat\s*\.\s*(postMessage|update|postEphemeral|scheduleMessage|delete)|files\s*\.\s*(upload|uploadV2)|filesUploadV2|conversations\s*\.\s*open)\s*\(/;
const NEW_CLIENT = /new\s+(webApi\s*\.\s*)?WebClient\s*\(|\bWebClient\s*\(/;

const test = suite('one Slack exit');

test('the scan sees the layers, and the transport it allows does call chat.postMessage', () => {
  const files = sources();
  assert.ok(files.length > 100, `scanned ${files.length} files`);
  const transport = files.find(([p]) => p === TRANSPORT);
  assert.ok(transport && WRITE_CALLS.test(code(transport[1])), 'the pattern matches the one place that posts');
});

test('no module other than the outbox transport calls chat.postMessage, chat.update, files upload or conversations.open', () => {
  const offenders = sources()
    .filter(([p]) => p !== TRANSPORT)
    .filter(([, text]) => WRITE_CALLS.test(code(text)))
    .map(([p, text]) => `${p}: ${code(text).match(WRITE_CALLS)![0]}`);
  assert.equal(offenders, [], `post through the outbox (alerts/slack-outbox.ts) instead:\n${offenders.join('\n')}`);
});

test('no layer creates a Slack WebClient: the one client is the Bolt app’s, made in bot/app.ts', () => {
  const files = sources();
  const clients = files.filter(([, text]) => NEW_CLIENT.test(code(text))).map(([p]) => p);
  assert.equal(clients, []);
  const apps = files.filter(([, text]) => /new\s+App\s*\(/.test(code(text))).map(([p]) => p);
  assert.equal(apps, ['bot/app.ts']);
  assert.match(readFileSync(join(ROOT, 'bot/app.ts'), 'utf8'), /clientOptions: slackClientOptions\(config\)|clientOptions,/);
  // bot/main.ts hands the app's client to its outbound step, which builds the outbox transport on it
  const main = readFileSync(join(ROOT, 'bot/main.ts'), 'utf8');
  assert.match(main, /startOutbound\(\{[^}]*client: slack\.app\.client/, 'the outbound step gets the app’s client');
  assert.match(main, /client: SlackApp\['app'\]\['client'\]/, 'typed as the app’s client');
  assert.match(main, /webClientTransport\(client\)/, 'the outbox transport uses that client');
});

test.run();
