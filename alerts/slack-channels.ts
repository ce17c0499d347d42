/**
 * Channel operations beside the outbox's posts (alerts/slack-transport.ts): creating a channel and inviting people
 * (incident channels, alerts/incident-channel.ts). They are made on the one Slack client, Bolt's `app.client`
 * (bot/main.ts), so one token, one base URL and one error classification (`classifySlackError`) serve both.
 *
 * Slack Web API (https://api.slack.com/methods):
 * - `conversations.create` `{ name, is_private }` → `{ ok, channel: { id, name, … } }`; `name_taken` when a
 *   channel (even archived) has that name; names are lowercase letters, digits, `-` and `_`, at most 80 characters.
 * - `conversations.invite` `{ channel, users: "U1,U2" }` → `{ ok, channel }`; per-call errors such as
 *   `already_in_channel` (harmless), `cant_invite_self`, `user_not_found`, `not_in_channel`.
 * Posts and files are not made here: they are outbox rows (alerts/slack-outbox.ts, kinds `post` … `file`), sent by
 * the one transport.
 */
import { classifySlackError } from './slack-transport.js';

/** Longest channel name Slack accepts. */
export const CHANNEL_NAME_MAX = 80;

/** What {@link SlackChannelApi.invite} did per user: invited, already there, or the Slack error. */
export type InviteResult = Record<string, 'invited' | 'already_in_channel' | `error:${string}`>;

/** Channel operations (Bolt's WebClient through {@link webClientChannels}, or the console). */
export interface SlackChannelApi {
  kind: 'slack' | 'console';
  /**
   * Creates a public channel named `name`, or `name-2`, `name-3` … while Slack answers `name_taken` (at most
   * `maxTries`, default 10). @throws the WebClient's error for any other refusal (classify with classifySlackError).
   */
  createChannel(name: string, maxTries?: number): Promise<{ id: string; name: string }>;
  /** Invites each user (one conversations.invite per user, so one bad id does not block the others). */
  invite(channelId: string, users: string[]): Promise<InviteResult>;
}

/** The slice of Bolt's WebClient used here. */
export interface ChannelClientLike {
  conversations: {
    create(args: { name: string; is_private?: boolean }): Promise<{ ok?: boolean; channel?: { id?: string; name?: string } }>;
    invite(args: { channel: string; users: string }): Promise<{ ok?: boolean }>;
  };
}

/**
 * A channel name from free text: lowercase, runs of anything but letters and digits become one `-`, trimmed to
 * fit `CHANNEL_NAME_MAX` with room for a `-NN` suffix (Slack's naming rules, conversations.create).
 */
export function channelName(prefix: string, title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const room = CHANNEL_NAME_MAX - 4 - prefix.length - 1;
  const cut = slug.slice(0, Math.max(0, room)).replace(/-+$/g, '');
  return cut ? `${prefix}-${cut}` : prefix;
}

const platformError = (err: unknown): string | undefined => {
  const f = classifySlackError(err);
  return f.kind === 'permanent' ? f.error : undefined;
};

/** Channel operations over Bolt's WebClient (give it `retryConfig: { retries: 0 }` as for the poster). */
export function webClientChannels(client: ChannelClientLike): SlackChannelApi {
  return {
    kind: 'slack',
    async createChannel(name, maxTries = 10) {
      for (let i = 1; i <= maxTries; i++) {
        const candidate = i === 1 ? name : `${name.slice(0, CHANNEL_NAME_MAX - 1 - String(i).length)}-${i}`;
        try {
          const res = await client.conversations.create({ name: candidate, is_private: false });
          const id = res.channel?.id;
          if (!id) throw new Error('conversations.create answered without a channel id');
          return { id, name: res.channel?.name ?? candidate };
        } catch (err) {
          if (platformError(err) !== 'name_taken') throw err;
        }
      }
      throw new Error(`conversations.create: ${name} and ${maxTries - 1} suffixed names are all taken`);
    },
    async invite(channelId, users) {
      const out: InviteResult = {};
      for (const user of users) {
        try {
          await client.conversations.invite({ channel: channelId, users: user });
          out[user] = 'invited';
        } catch (err) {
          const error = platformError(err);
          if (error === 'already_in_channel') out[user] = 'already_in_channel';
          else if (error) out[user] = `error:${error}`;
          else throw err; // rate limit, network, 5xx: the caller retries the whole step later
        }
      }
      return out;
    },
  };
}

/** Prints what would be done (no Slack app): `#<name>` stands for the channel id, so console posts read well. */
export function consoleChannels(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): SlackChannelApi {
  return {
    kind: 'console',
    async createChannel(name) {
      write(`[slack] channel #${name} created`);
      return { id: `#${name}`, name };
    },
    async invite(channelId, users) {
      if (users.length) write(`[slack ${channelId}] invited ${users.join(', ')}`);
      return Object.fromEntries(users.map((u) => [u, 'invited' as const]));
    },
  };
}
