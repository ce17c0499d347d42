/**
 * What the `lf` CLI accepts, as data: every command, its subcommands and the options each takes (with or without a
 * value), and the help text. Loaded by `lf help` and by the strict argument check before anything else, so it
 * imports nothing heavy (the `/lf` table in bot/commands/spec.ts is types plus constants).
 */
import { LF_COMMANDS } from './commands/spec.js';

/** One `--option`: `value` says whether it takes a value (`--dir D`, `--dir=D`) and of which kind. */
export interface CliOption {
  name: string;
  value?: 'text' | 'int';
}

/** A command's accepted options, per second word (`''` = the command alone or with positional words only). */
export interface CliCommandSpec {
  name: string;
  /** Second words that select a subcommand; a word not listed is a positional argument unless `strictSub`. */
  subcommands?: Record<string, CliOption[]>;
  /** Options when no subcommand word is given. */
  options: CliOption[];
  /** When true, a second word that is not a subcommand is a usage error (with a suggestion). */
  strictSub?: boolean;
  /**
   * Positional words the command takes (after its name): at most `max`, each matching `pattern` (`describe` says
   * what); `each` checks the word at that position instead (a list of `values`, with a suggestion, or a `pattern`).
   */
  positional?: { max: number; pattern: RegExp; describe: string; each?: readonly PositionalWord[] };
}

/** One positional word: one of `values` (case-insensitive), or matching `pattern`; `describe` says what it is. */
export interface PositionalWord {
  describe: string;
  values?: readonly string[];
  pattern?: RegExp;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: CliOption[] = [{ name: 'json' }, { name: 'help' }];

/** Provider ids and fault kinds of the sandbox (domain/sandbox/faults.ts holds the same lists; a test compares). */
export const SANDBOX_PROVIDERS = ['yelp', 'pagespeed', 'openai', 'sendgrid', 'stripe'] as const;
export const SANDBOX_FAULT_KINDS = ['rate_limit', 'server_error', 'timeout', 'slow', 'invalid_key', 'quota_exhausted', 'bad_request', 'malformed', 'runtime_error'] as const;

const url: CliOption = { name: 'url', value: 'text' };

/** Commands with their own options or subcommands; every other `/lf` subcommand takes none. */
const SPECIAL: CliCommandSpec[] = [
  { name: 'ask', options: [{ name: 'offline' }, { name: 'llm' }] },
  // the breaker cards (`/lf breakers`): every provider, no arguments
  { name: 'breakers', options: [], positional: { max: 0, pattern: /^$/, describe: 'no provider: it shows all five' } },
  // the same window form as domain/storefront/funnel.ts FUNNEL_WINDOW_PATTERN (kept here so `lf help` loads nothing heavy)
  { name: 'purchases', options: [], positional: { max: 1, pattern: /^\d{1,4}[hd]$/i, describe: 'a window of hours or days such as 24h, 7d or 30d' } },
  {
    name: 'drill',
    options: [],
    positional: {
      max: 3,
      pattern: /^\S+$/,
      describe: 'a provider, a fault kind and a duration',
      // the same lists as the sandbox (domain/sandbox/faults.ts; a test compares) and alerts/drills.ts parseDrillDuration
      each: [
        { describe: 'a sandbox provider', values: SANDBOX_PROVIDERS },
        { describe: 'a fault kind', values: SANDBOX_FAULT_KINDS },
        { describe: 'a duration such as 90s, 2m or 1h', pattern: /^\d{1,4}(s|m|min|h)$/i },
      ],
    },
  },
  {
    name: 'targets',
    options: [],
    strictSub: true,
    subcommands: {
      list: [],
      add: [],
      edit: [],
      disable: [],
      enable: [],
      seed: [],
      'reset-quotas': [],
      'batch-size': [],
    },
  },
  {
    name: 'db',
    options: [],
    strictSub: true,
    subcommands: {
      backup: [{ name: 'dir', value: 'text' }],
      backups: [{ name: 'dir', value: 'text' }],
      basebackup: [{ name: 'dir', value: 'text' }],
      restore: [
        { name: 'backup', value: 'text' },
        { name: 'fresh' },
        { name: 'into', value: 'text' },
        { name: 'into-dir', value: 'text' },
        { name: 'yes' },
        { name: 'table', value: 'text' },
        { name: 'timestamp', value: 'text' },
        { name: 'dir', value: 'text' },
        { name: 'wal-archive', value: 'text' },
      ],
      verify: [],
    },
  },
  {
    name: 'oncall',
    options: [],
    strictSub: true,
    subcommands: { now: [], next: [], schedule: [], rotations: [], rotation: [], override: [], contact: [] },
  },
  {
    name: 'sandbox',
    options: [],
    strictSub: true,
    subcommands: {
      fault: [{ name: 'status', value: 'int' }, { name: 'ms', value: 'int' }, { name: 'retry-after', value: 'int' }, { name: 'count', value: 'int' }, { name: 'code', value: 'text' }, url],
      clear: [url],
      faults: [url],
      limit: [url],
      stats: [url],
    },
  },
];

/** Every CLI command: the `/lf` subcommands plus the terminal-only ones (`sandbox`). */
export const CLI_COMMANDS: readonly CliCommandSpec[] = [
  ...LF_COMMANDS.filter((c) => !SPECIAL.some((s) => s.name === c.name)).map((c): CliCommandSpec => ({ name: c.name, options: [] })),
  ...SPECIAL,
];

/** Help for `targets …`. */
export const TARGETS_HELP = [
  'Targeting (the same in Slack: /lf targets …; add, edit, disable and enable need the operator role):',
  '  targets [list]            every target: quota, used today, priority, active',
  '  targets add location="Denver, CO" category=roofing [quota=50] [priority=0]',
  '                            a new target: a Yelp location × category alias; businesses per UTC day; higher priority first',
  '  targets edit <id> key=value …   change location, category, quota, priority or active (true|false)',
  '  targets disable <id>      stop sourcing it (kept for history); targets enable <id> undoes it',
  '  targets seed              insert the demo targets (only into an empty table)',
  '  targets reset-quotas      reset used-today counts now (audited)',
  '  targets batch-size [N]    show or set the Yelp batch size in force (1-50, audited)',
].join('\n');

/** Help for `db backup|backups|basebackup|restore|verify`. */
export const DB_HELP = [
  'Backups and recovery (`/lf db verify` and `/lf db backups` in Slack too; restore is terminal only):',
  '  db backup [--dir D]           pg_dump --format=custom into D (default BACKUP_DIR), with a .sha256 checksum (operator);',
  '                                the embedded database: its data directory (*.pglite.tar.gz), with the service stopped.',
  '  db backups [--dir D]          The backups, newest first, checksums verified.',
  '  db restore --backup <file> [--fresh | --into <url|database>] --yes',
  '                                Restore (admin): checksum first, then into a fresh database on the same server',
  '                                (default) or an existing empty one; without --yes only says what it would do.',
  '  db restore --backup <file.pglite.tar.gz> [--into-dir F] --yes',
  '                                An embedded backup, into a new data folder F (default <DATA_DIR>-restore-<stamp>).',
  '  db restore --backup <file> --table <name> [--fresh | --into <url|database>] --yes',
  '                                One table only (definition and rows) from a pg_dump backup, into a fresh or empty database.',
  '  db basebackup [--dir D]       pg_basebackup for point-in-time recovery into D (default BASE_BACKUP_DIR); needs WAL archiving.',
  '  db restore --timestamp <ISO time with zone> [--dir D] [--wal-archive W] [--into-dir F] --yes',
  '                                Point-in-time restore (admin) into a NEW cluster in F, verified; the live database is untouched.',
  '                                Not possible on the embedded database or without WAL archiving (the command says why).',
  '  db verify [--json]            Integrity checks: foreign keys, orphaned rows, status consistency, counts per stage.',
  '  db                            (alone) the database-performance runbook.',
  '',
].join('\n');


/** Help for `sandbox …` (terminal only; not a Slack subcommand). */
export const SANDBOX_HELP = [
  'Provider sandbox (drills; faults apply to every process using that sandbox):',
  '  sandbox fault <provider> <kind> [--status N] [--ms N] [--retry-after S] [--count N] [--code LIGHTHOUSE_CODE]',
  '                                Make the sandbox answer <provider> with a fault (until cleared, or the next N requests).',
  "  sandbox clear [provider]      Clear one provider's fault, or all.",
  '  sandbox faults                List the faults in force.',
  '  sandbox limit <provider> <perSecond|off>',
  '                                Make the sandbox itself answer 429 above <perSecond> requests/s (token bucket).',
  '  sandbox stats                 Requests, enforced-limit 429s and faulted answers per provider.',
  `  providers: ${SANDBOX_PROVIDERS.join(', ')}`,
  `  kinds:     ${SANDBOX_FAULT_KINDS.join(', ')}`,
  '  Sandbox URL: --url <url>, else SANDBOX_URL, else the `sandbox.url` setting the running service stored.',
  '',
].join('\n');

/** Exit codes of every `lf` command (for cron jobs and monitoring checks). */
export const EXIT = { ok: 0, problems: 1, usage: 2, unreachable: 3 } as const;

/** The CLI's help text (same subcommands as `/lf`, plus the terminal-only ones). */
export function cliHelp(): string {
  const width = Math.max(...LF_COMMANDS.map((s) => s.usage.length)) + 2;
  const lines = LF_COMMANDS.map((s) => `  ${s.usage.padEnd(width)}${s.summary}`);
  return [
    'Usage: lf <command> [arguments] [--json]      (from a checkout: npm run lf -- <command> …)',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    `  ${'--json'.padEnd(width)}Print JSON instead of text (every command).`,
    `  ${'--help'.padEnd(width)}This help.`,
    '',
    'Exit codes: 0 ok; 1 problems found (a PROBLEM finding, a failed check, a refused or failed action);',
    '            2 usage or configuration error; 3 the database or the service is unreachable.',
    '',
    'Database: DATABASE_URL, else the running service (lock file in DATA_DIR), else the embedded folder DATA_DIR.',
    'Configuration: the environment, then `.env` in the working directory (ENV_FILE names another file).',
    '',
    TARGETS_HELP,
    '',
    DB_HELP,
    SANDBOX_HELP,
  ].join('\n');
}
