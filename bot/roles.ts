/**
 * Resolves a Slack user's role from config (`LF_ADMINS`, `LF_OPERATORS`, `LF_VIEWERS`: user ids U…/W… or user-group
 * ids S…; `LF_DEFAULT_ROLE` for everyone else). The most privileged match wins. User-group members come from the
 * Web API `usergroups.users.list` (scope `usergroups:read`), cached for `ttlMs`; a failed lookup counts as "not a
 * member" (logged), so an outage never grants a role.
 */
import type { AppConfig } from '../domain/config.js';
import type { Logger } from '../domain/logger.js';
import type { Role } from '../runbooks/define.js';

/** The slice of Bolt's WebClient used here. */
export interface UsergroupsClient {
  usergroups: { users: { list(args: { usergroup: string }): Promise<{ ok?: boolean; users?: string[] }> } };
}

/** Resolves roles. */
export interface RoleResolver {
  /** The role of `userId`, or undefined for none (`LF_DEFAULT_ROLE=none`). */
  roleOf(userId: string): Promise<Role | undefined>;
}

/** Builds a resolver. `client` absent: user groups never match. */
export function createRoleResolver(
  roles: AppConfig['roles'],
  opts: { client?: UsergroupsClient; logger?: Logger; ttlMs?: number; now?: () => number } = {},
): RoleResolver {
  const ttl = opts.ttlMs ?? 5 * 60_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; members: Set<string> }>();
  const members = async (group: string): Promise<Set<string>> => {
    const hit = cache.get(group);
    if (hit && now() - hit.at < ttl) return hit.members;
    if (!opts.client) return new Set();
    try {
      const res = await opts.client.usergroups.users.list({ usergroup: group });
      const set = new Set(res.users ?? []);
      cache.set(group, { at: now(), members: set });
      return set;
    } catch (err) {
      opts.logger?.warn({ usergroup: group, err: (err as Error).message }, 'user-group lookup failed; treated as not a member');
      return hit?.members ?? new Set();
    }
  };
  const matches = async (ids: string[], userId: string) => {
    if (ids.includes(userId)) return true;
    for (const id of ids) if (id.startsWith('S') && (await members(id)).has(userId)) return true;
    return false;
  };
  return {
    async roleOf(userId) {
      if (await matches(roles.admins, userId)) return 'admin';
      if (await matches(roles.operators, userId)) return 'operator';
      if (await matches(roles.viewers, userId)) return 'viewer';
      return roles.defaultRole === 'none' ? undefined : roles.defaultRole;
    },
  };
}
