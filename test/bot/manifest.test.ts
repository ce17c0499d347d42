/**
 * manifest.yml stays creatable and its scopes stay in step with the code:
 * - it parses as YAML (Slack's "From an app manifest" refuses what a YAML parser refuses);
 * - it type-checks as `@slack/web-api`'s manifest type (`AppsManifestCreateArguments['manifest']`, the shape
 *   `apps.manifest.create` takes), excess keys included, through the TypeScript compiler;
 * - the bot scopes are exactly those the code needs: every Web API method called as `client.<ns>.<method>(` in the
 *   source (a method is a Slack one when `WebClient` has it, so OpenAI's `client.chat.completions` is not) and every
 *   event listened to (`app.event('…')`) maps to its scope (Slack's method and event reference pages); no scope is
 *   missing and none is in excess.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import ts from 'typescript';
import { WebClient } from '@slack/web-api';
import { ROOT } from '../helpers/process.js';

const test = suite('manifest.yml');

/** Bot scopes per Web API method (https://api.slack.com/methods/<method>, "Required scopes: Bot tokens"). */
const METHOD_SCOPES: Record<string, string[]> = {
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'conversations.open': ['im:write'],
  'views.publish': [],
  'usergroups.users.list': ['usergroups:read'],
  'files.uploadV2': ['files:write'], // files.getUploadURLExternal + files.completeUploadExternal
  filesUploadV2: ['files:write'], // the same flow under its @slack/web-api name (alerts/slack-transport.ts)
  'users.info': ['users:read'],
  'conversations.create': ['channels:manage'], // public channels (private ones would need groups:write)
  'conversations.invite': ['channels:manage'],
};

/** Bot scopes per Events API event (https://api.slack.com/events/<event>), with the manifest's event name. */
const EVENT_SCOPES: Record<string, { manifest: string; scopes: string[] }> = {
  app_home_opened: { manifest: 'app_home_opened', scopes: [] },
  app_mention: { manifest: 'app_mention', scopes: ['app_mentions:read'] },
  // the `message` listener answers DMs only (channel_type im): the message.im subscription
  message: { manifest: 'message.im', scopes: ['im:history'] },
};

/**
 * Scopes that follow from how the code uses a method rather than the method itself: chat.postMessage to the
 * configured channels (SLACK_STATUS_CHANNEL, SLACK_ALERTS_CHANNEL, SLACK_INCIDENTS_CHANNEL, given by name) that the
 * app was never invited to needs chat:write.public; the /lf slash command needs `commands`.
 */
const USAGE_SCOPES = { 'chat.postMessage': ['chat:write.public'], slashCommand: ['commands'] };

interface ManifestDoc {
  oauth_config?: { scopes?: { bot?: string[] } };
  features?: { slash_commands?: { command: string }[] };
  settings?: { event_subscriptions?: { bot_events?: string[] } };
}

const manifestText = readFileSync(join(ROOT, 'manifest.yml'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Slack Web API methods and events the source uses, with the files they appear in. */
function codeUsage(): { methods: Map<string, string>; events: Map<string, string> } {
  const web = new WebClient();
  const isSlackMethod = (path: string) => {
    let v: unknown = web;
    for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    return typeof v === 'function';
  };
  const methods = new Map<string, string>();
  const events = new Map<string, string>();
  for (const dir of ['bot', 'alerts', 'domain', 'jobs', 'runbooks']) {
    for (const file of sourceFiles(join(ROOT, dir))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/client\.([a-zA-Z]+(?:\.[a-zA-Z0-9]+)+|filesUploadV2)\(/g)) {
        if (isSlackMethod(m[1]!)) methods.set(m[1]!, relative(ROOT, file));
      }
      for (const m of text.matchAll(/\bapp\.event\(\s*'([a-z_]+)'/g)) events.set(m[1]!, relative(ROOT, file));
    }
  }
  return { methods, events };
}

test('parses as YAML (no error, no warning)', () => {
  const doc = parse(manifestText, { prettyErrors: true, strict: true }) as ManifestDoc;
  assert.type(doc, 'object');
  assert.ok(doc.oauth_config?.scopes?.bot?.length, 'bot scopes present');
});

test("type-checks as @slack/web-api's manifest type (excess keys refused)", () => {
  const doc: unknown = parse(manifestText);
  const file = join(ROOT, 'test', 'bot', `.manifest-typecheck-${process.pid}.ts`);
  writeFileSync(
    file,
    `import type { AppsManifestCreateArguments } from '@slack/web-api';\n` +
      `export const manifest: AppsManifestCreateArguments['manifest'] = ${JSON.stringify(doc, null, 2)};\n`,
  );
  try {
    const program = ts.createProgram([file], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.equal(diagnostics, [], diagnostics.join('\n'));
  } finally {
    rmSync(file, { force: true });
  }
});

test('the type check does catch a wrong manifest (the check is not vacuous)', () => {
  const file = join(ROOT, 'test', 'bot', `.manifest-typecheck-bad-${process.pid}.ts`);
  writeFileSync(
    file,
    `import type { AppsManifestCreateArguments } from '@slack/web-api';\n` +
      `export const manifest: AppsManifestCreateArguments['manifest'] = { display_information: { name: 'x', colour: 'y' } };\n`,
  );
  try {
    const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] });
    assert.ok(ts.getPreEmitDiagnostics(program).length > 0);
  } finally {
    rmSync(file, { force: true });
  }
});

test('bot scopes: none missing, none in excess; events subscribed exactly as listened to', () => {
  const doc = parse(manifestText) as ManifestDoc;
  const { methods, events } = codeUsage();
  assert.ok(methods.has('chat.postMessage'), 'the scan finds the Web API calls');
  const needed = new Map<string, string>();
  for (const [method, where] of methods) {
    const scopes = METHOD_SCOPES[method];
    assert.ok(scopes, `${method} (${where}) is not in METHOD_SCOPES: add its scopes from https://api.slack.com/methods/${method}`);
    for (const s of scopes) needed.set(s, `${method} (${where})`);
    for (const s of USAGE_SCOPES[method as 'chat.postMessage'] ?? []) needed.set(s, `${method} to configured channels`);
  }
  const wantedEvents: string[] = [];
  for (const [event, where] of events) {
    const e = EVENT_SCOPES[event];
    assert.ok(e, `event ${event} (${where}) is not in EVENT_SCOPES`);
    wantedEvents.push(e.manifest);
    for (const s of e.scopes) needed.set(s, `event ${event} (${where})`);
  }
  if (doc.features?.slash_commands?.length) for (const s of USAGE_SCOPES.slashCommand) needed.set(s, 'slash command /lf');
  const declared = doc.oauth_config?.scopes?.bot ?? [];
  const missing = [...needed.keys()].filter((s) => !declared.includes(s));
  const excess = declared.filter((s) => !needed.has(s));
  assert.equal(missing, [], `missing scopes: ${missing.map((s) => `${s} for ${needed.get(s)}`).join('; ')}`);
  assert.equal(excess, [], `scopes nothing uses: ${excess.join(', ')}`);
  assert.equal([...(doc.settings?.event_subscriptions?.bot_events ?? [])].sort(), wantedEvents.sort());
});

test.run();
