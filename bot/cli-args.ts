/**
 * Strict argument checking for the `lf` CLI, before any command runs: an unknown command, subcommand or option, or
 * an option missing its value, is a usage error (exit 2) that names it and suggests the closest valid spelling
 * (Levenshtein distance, fastest-levenshtein). Positional words are left to the command.
 */
import { closest, distance } from 'fastest-levenshtein';
import { CLI_COMMANDS, GLOBAL_OPTIONS, type CliCommandSpec, type CliOption } from './cli-spec.js';

/** A usage error: print `message` (it names the offending word and a suggestion) and exit 2. */
export class UsageError extends Error {}

/** ` (did you mean "x"?)` when `word` is close to one of `candidates`, else ''. */
export function suggestion(word: string, candidates: readonly string[], prefix = ''): string {
  if (candidates.length === 0) return '';
  const best = closest(word, [...candidates]);
  const limit = Math.max(2, Math.floor(best.length / 3));
  return distance(word, best) <= limit ? `; did you mean "${prefix}${best}"?` : '';
}

/** The checked command line: the command, its subcommand (when it has subcommands) and the options given. */
export interface CheckedArgs {
  command: string;
  sub: string | undefined;
  /** Option name → value (`'true'` for a flag). */
  options: Map<string, string>;
  /** Words that are not options, in order (the command word included). */
  words: string[];
}

function optionsFor(spec: CliCommandSpec, sub: string | undefined): CliOption[] {
  const own = sub !== undefined && spec.subcommands?.[sub] ? spec.subcommands[sub]! : spec.options;
  return [...GLOBAL_OPTIONS, ...own];
}

/**
 * Checks `argv` (what follows `lf`) against the CLI's spec. `-h` is `--help`; an empty command line is `help`.
 * @throws UsageError naming an unknown command/subcommand/option or an option without its value.
 */
export function checkArgs(argv: readonly string[]): CheckedArgs {
  const bare = argv.filter((a) => !a.startsWith('-') || a === '-');
  const command = bare[0] ?? 'help';
  const spec = CLI_COMMANDS.find((c) => c.name === command.toLowerCase());
  if (!spec) {
    throw new UsageError(`unknown command "${command}"${suggestion(command, CLI_COMMANDS.map((c) => c.name))} (lf help lists them)`);
  }
  const second = bare[1];
  let sub: string | undefined;
  if (spec.subcommands && second !== undefined) {
    if (spec.subcommands[second]) sub = second;
    else if (spec.strictSub)
      throw new UsageError(`unknown ${spec.name} subcommand "${second}"${suggestion(second, Object.keys(spec.subcommands))} (lf help)`);
  }
  const allowed = optionsFor(spec, sub);
  const where = sub ? `${spec.name} ${sub}` : spec.name;
  const options = new Map<string, string>();
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      words.push(a);
      continue;
    }
    if (a === '-h') {
      options.set('help', 'true');
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`unknown option "${a}" for lf ${where}${suggestion(a.replace(/^-+/, ''), allowed.map((o) => o.name), '--')}`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const opt = allowed.find((o) => o.name === name);
    if (!opt) {
      const valid = allowed.map((o) => o.name);
      throw new UsageError(`unknown option "--${name}" for lf ${where}${suggestion(name, valid, '--')} (valid: ${valid.map((v) => `--${v}`).join(', ')})`);
    }
    let value = 'true';
    if (opt.value) {
      const next = argv[i + 1];
      if (eq > 0) value = a.slice(eq + 1);
      else if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      } else value = '';
      if (value.trim() === '') throw new UsageError(`option --${name} of lf ${where} needs a value (--${name} <${opt.value === 'int' ? 'number' : 'value'}>)`);
      if (opt.value === 'int' && !/^\d+$/.test(value)) throw new UsageError(`option --${name} of lf ${where} needs a whole number, got "${value}"`);
    } else if (eq > 0) {
      throw new UsageError(`option --${name} of lf ${where} takes no value`);
    }
    options.set(name, value);
  }
  checkPositional(spec, sub, words);
  return { command: spec.name, sub, options, words };
}

/** A command's positional words against its `positional` spec (commands without one check their own words). */
function checkPositional(spec: CliCommandSpec, sub: string | undefined, words: string[]): void {
  const p = spec.positional;
  if (!p || sub !== undefined) return;
  const given = words.slice(1);
  if (given.length > p.max) throw new UsageError(`lf ${spec.name} takes at most ${p.max} argument(s) (${p.describe}), got "${given.join(' ')}"`);
  given.forEach((w, i) => {
    const one = p.each?.[i];
    if (!one) {
      if (!p.pattern.test(w)) throw new UsageError(`lf ${spec.name}: "${w}" is not ${p.describe}`);
      return;
    }
    if (one.values && !one.values.includes(w.toLowerCase()))
      throw new UsageError(`lf ${spec.name}: "${w}" is not ${one.describe}${suggestion(w.toLowerCase(), one.values)} (${one.values.join(', ')})`);
    if (one.pattern && !one.pattern.test(w)) throw new UsageError(`lf ${spec.name}: "${w}" is not ${one.describe}`);
  });
}
