/**
 * The `/lf` subcommands, shared by Slack and the CLI (`npm run lf -- <subcommand>`): name, usage, one-line
 * summary, the role needed, whether Slack answers ephemerally (only the asker sees it: lookups) or in the channel
 * (the team should see it: actions and diagnoses others may act on), and — for runbook views — which runbook
 * and diagnostics it runs.
 */
import type { Role } from '../../runbooks/define.js';

/** One subcommand. `view` = run these diagnostics of that runbook (all when `diagnostics` is absent). */
export interface LfCommand {
  name: string;
  usage: string;
  summary: string;
  role: Role;
  response: 'ephemeral' | 'in_channel';
  view?: { runbook: string; diagnostics?: readonly string[] };
  /** Second words with their own role (e.g. `incident declare` = operator); the executor of the command checks them. */
  subcommands?: Readonly<Record<string, Role>>;
}

/** Every subcommand, in help order. */
export const LF_COMMANDS: readonly LfCommand[] = [
  { name: 'help', usage: 'help', summary: 'List the subcommands.', role: 'viewer', response: 'ephemeral' },
  { name: 'status', usage: 'status', summary: 'Last pipeline runs, businesses and emails by status.', role: 'viewer', response: 'ephemeral' },
  { name: 'check', usage: 'check', summary: 'System check: service status, health, integrations, recent errors, database.', role: 'viewer', response: 'ephemeral', view: { runbook: 'quick-diagnostics' } },
  { name: 'health', usage: 'health', summary: 'Health check: database, migrations, error rate, event-loop lag.', role: 'viewer', response: 'ephemeral', view: { runbook: 'quick-diagnostics', diagnostics: ['health'] } },
  { name: 'integrations', usage: 'integrations', summary: 'Verify every provider: connection, authentication, breaker (verbose).', role: 'viewer', response: 'ephemeral', view: { runbook: 'quick-diagnostics', diagnostics: ['integrations'] } },
  { name: 'errors', usage: 'errors', summary: 'Recent errors from the service log.', role: 'viewer', response: 'ephemeral', view: { runbook: 'quick-diagnostics', diagnostics: ['recent-errors'] } },
  { name: 'diagnose', usage: 'diagnose <runbook>', summary: 'Run a runbook: findings, root causes and fix buttons (`diagnose` alone lists runbooks).', role: 'viewer', response: 'in_channel' },
  { name: 'quota', usage: 'quota', summary: 'Targeting quota left across active targets.', role: 'viewer', response: 'ephemeral', view: { runbook: 'pipeline-not-processing', diagnostics: ['targeting-quota', 'active-targets'] } },
  {
    name: 'breakers',
    usage: 'breakers',
    summary: 'A card per provider’s circuit breaker (closed / open / half_open, why it tripped, failures, next probe, who acted), with Probe now, Keep open 1 h and Force close; posted in the channel and edited in place as breakers change (the answer to the asker is a read-only copy).',
    role: 'viewer',
    response: 'ephemeral',
  },
  { name: 'ratelimits', usage: 'ratelimits', summary: 'Rate limits, daily quotas and use per provider.', role: 'viewer', response: 'ephemeral', view: { runbook: 'external-apis', diagnostics: ['rate-limits'] } },
  { name: 'emails', usage: 'emails', summary: 'Email delivery: statuses, bounce rate, stuck sends, SendGrid key.', role: 'viewer', response: 'ephemeral', view: { runbook: 'email-delivery' } },
  { name: 'assessments', usage: 'assessments', summary: 'Assessment backlog, failures, PageSpeed and OpenAI.', role: 'viewer', response: 'ephemeral', view: { runbook: 'assessment-failures' } },
  {
    name: 'purchases',
    usage: 'purchases [24h|7d|30d|<N>h|<N>d]',
    summary: 'Storefront funnel over a window (default 7d): emailed → clicked → checkout → paid → report sent, with conversion rates (`diagnose payments`: the payment runbook).',
    role: 'viewer',
    response: 'ephemeral',
  },
  { name: 'db', usage: 'db [verify|backups]', summary: 'Database performance runbook; `db verify`: integrity checks; `db backups`: the backups, checksums verified.', role: 'viewer', response: 'ephemeral', view: { runbook: 'database-performance' }, subcommands: { verify: 'viewer', backups: 'viewer' } },
  { name: 'backups', usage: 'backups', summary: 'Backups and recovery: newest backup, backup runs, data integrity; Back up now button.', role: 'viewer', response: 'ephemeral', view: { runbook: 'backup-recovery' } },
  { name: 'resources', usage: 'resources', summary: 'Memory, event loop, disk and batch sizes.', role: 'viewer', response: 'ephemeral', view: { runbook: 'memory-resources' } },
  {
    name: 'targets',
    usage: 'targets [list] | add location=… category=… [quota=N] [priority=N] | edit <id> key=value… | disable|enable <id>',
    summary: 'Targets (Yelp location × category, daily quota, priority): list, add, edit, disable.',
    role: 'viewer',
    response: 'ephemeral',
    subcommands: { list: 'viewer', add: 'operator', edit: 'operator', disable: 'operator', enable: 'operator' },
  },
  { name: 'jobs', usage: 'jobs', summary: 'Scheduled jobs with last and next run, paused or not.', role: 'viewer', response: 'ephemeral' },
  { name: 'run', usage: 'run <job>', summary: 'Run a job now (unless it is running).', role: 'operator', response: 'in_channel' },
  { name: 'pause', usage: 'pause <job>', summary: 'Pause a job’s schedule (kept across restarts).', role: 'operator', response: 'in_channel' },
  { name: 'resume', usage: 'resume <job>', summary: 'Resume a paused job.', role: 'operator', response: 'in_channel' },
  { name: 'fix', usage: 'fix <runbook> <remediation> [key=value …]', summary: 'Run one remediation (same checks as its button).', role: 'viewer', response: 'in_channel' },
  { name: 'ask', usage: 'ask <question> [--offline|--llm]', summary: 'Ask the ops assistant: it runs the runbooks’ diagnostics and names the root cause, with fix buttons.', role: 'viewer', response: 'in_channel' },
  { name: 'deadletters', usage: 'deadletters', summary: 'Inbound webhook events that could not be applied (SendGrid, Stripe, Alertmanager): reason, attempts; Replay button (operator).', role: 'viewer', response: 'ephemeral', view: { runbook: 'dead-letters' } },
  { name: 'audit', usage: 'audit', summary: 'Recent operator actions: who, what, when, outcome.', role: 'operator', response: 'ephemeral' },
  {
    name: 'incident',
    usage: 'incident declare <SEV1-4> <title…> [provider=<p>] [runbook=<id>] | ack|resolve|escalate <id> | note <id> <text…> | timeline <id> | role <id> commander|communications @user | postmortem <id>',
    summary: 'Declare, acknowledge, resolve or escalate an incident; its timeline; roles; a postmortem draft (SEV1/SEV2 get their own channel).',
    role: 'viewer',
    response: 'ephemeral',
    subcommands: { declare: 'operator', ack: 'operator', resolve: 'operator', escalate: 'operator', note: 'operator', timeline: 'viewer', role: 'operator', postmortem: 'operator' },
  },
  {
    name: 'oncall',
    usage: 'oncall [now|next|schedule|rotations] | rotation add|remove … | override <@user> <duration> | override cancel <id> | contact <@user> <email>',
    summary: 'Who is on call (Level 1 primary, Level 2 secondary) and next; rotations, overrides, paging email.',
    role: 'viewer',
    response: 'ephemeral',
    subcommands: { now: 'viewer', next: 'viewer', schedule: 'viewer', rotations: 'viewer', rotation: 'operator', override: 'operator', contact: 'operator' },
  },
  {
    name: 'drill',
    usage: 'drill [<provider> <fault> [90s|2m|1h]]',
    summary: 'Fault drill in the sandbox (default 2 min): inject, measure time to detection, diagnosis and recovery, post the report; alone: the last drills.',
    role: 'admin',
    response: 'in_channel',
  },
  { name: 'incidents', usage: 'incidents', summary: 'Open incidents: severity, escalation level, who acknowledged.', role: 'viewer', response: 'ephemeral' },
  { name: 'silence', usage: 'silence <alertname | label=value …> <duration e.g. 2h> [comment…]', summary: 'Mute an alert’s posts and pages for a while (evaluation goes on).', role: 'operator', response: 'in_channel' },
  { name: 'silences', usage: 'silences', summary: 'Active silences.', role: 'viewer', response: 'ephemeral' },
  { name: 'unsilence', usage: 'unsilence <id>', summary: 'End a silence now.', role: 'operator', response: 'in_channel' },
  { name: 'changes', usage: 'changes', summary: 'Deploys and configuration changes; the last version that ran clean.', role: 'viewer', response: 'ephemeral' },
  { name: 'costs', usage: 'costs', summary: 'Provider spend today and this month against budget; cost per lead emailed.', role: 'viewer', response: 'ephemeral' },
  { name: 'eval', usage: 'eval export <answer id> [expected=<root cause id>]', summary: 'Export an assistant answer (e.g. one marked wrong) as an eval case.', role: 'operator', response: 'in_channel' },
];

/** The subcommand named `word` (case-insensitive), or undefined. */
export function findCommand(word: string): LfCommand | undefined {
  const w = word.toLowerCase();
  return LF_COMMANDS.find((c) => c.name === w);
}

/** Parsed `/lf` text: the command (undefined for unknown), the word typed and the remaining arguments. */
export interface ParsedLf {
  command: LfCommand | undefined;
  word: string;
  args: string[];
}

/**
 * Splits on whitespace outside double quotes (straight or Slack's curly ones), dropping the quotes:
 * `add location="Denver, CO"` → `add`, `location=Denver, CO`. Apostrophes are ordinary characters.
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (const ch of text.trim()) {
    if (ch === '"' || ch === '\u201c' || ch === '\u201d') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && /\s/.test(ch)) {
      if (any) words.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) words.push(cur);
  return words;
}

/** Splits `/lf` text; empty text is `help`. */
export function parseLf(text: string | undefined): ParsedLf {
  const [first = '', ...args] = splitWords(text ?? '');
  if (first === '') return { command: findCommand('help'), word: 'help', args };
  return { command: findCommand(first), word: first, args };
}

/**
 * `key=value` arguments into an object; values that parse as JSON numbers/booleans become those.
 * @throws Error naming an argument without `=`.
 */
export function parseKeyValues(args: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw new Error(`expected key=value, got "${a}"`);
    const k = a.slice(0, i);
    const v = a.slice(i + 1);
    out[k] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
  }
  return out;
}
