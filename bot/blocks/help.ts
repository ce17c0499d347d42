/**
 * Block Kit for `/lf help` (pure), built with slack-block-builder. Also shown for an empty `/lf` and for any
 * unknown subcommand, so a typo gets the list instead of an error.
 */
import { Blocks, type BlockBuilder } from 'slack-block-builder';
import { LF_COMMANDS } from '../commands/spec.js';
import { buildMessage, clampText, escapeMrkdwn, section, type SlackMessage } from './status.js';

/** One `/lf` subcommand: `usage` as typed after `/lf`, `summary` one line. */
export interface SubcommandHelp {
  name: string;
  usage: string;
  summary: string;
}

/** The `/lf` subcommands, in the order help lists them (bot/commands/spec.ts). */
export const LF_SUBCOMMANDS: readonly SubcommandHelp[] = LF_COMMANDS;

/**
 * The help message. `unknown` (the subcommand the user typed, when it was not recognised) adds a first line
 * saying so; it is escaped and cut, since it is user input.
 */
export function helpBlocks(opts: { unknown?: string; command?: string } = {}): SlackMessage {
  const command = opts.command ?? '/lf';
  const lines = LF_SUBCOMMANDS.map((s) => `\`${command} ${s.usage}\` — ${s.summary}`);
  const blocks: BlockBuilder[] = [];
  let text = `${command} subcommands: ${LF_SUBCOMMANDS.map((s) => s.name).join(', ')}`;
  if (opts.unknown !== undefined) {
    const typed = escapeMrkdwn(clampText(opts.unknown, 100));
    blocks.push(section(`:grey_question: I don't know \`${typed}\`. Here is what \`${command}\` can do:`));
    text = `Unknown subcommand "${typed}". ${text}`;
  } else {
    blocks.push(section(`*\`${command}\`: operate the LeadFactory pipeline from Slack*`));
  }
  blocks.push(section(lines.join('\n')));
  blocks.push(Blocks.Context().elements('Same commands in a terminal: `npm run lf -- <subcommand> [--json]`'));
  return buildMessage(text, blocks);
}
