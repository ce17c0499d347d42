/**
 * Fixture mode: recorded provider payloads (a folder laid out like shared/fixtures/real) served verbatim.
 *
 * - `yelp/businesses-search*.json` (not `-phone`, not `.meta.json`): search bodies. The location a body answers is
 *   read from the sibling `.meta.json` (`request.uri`'s `location` query parameter).
 * - `pagespeed/runPagespeed.v5.*.json`: runPagespeed bodies, matched by the host of `id`, `requestedUrl`, `finalUrl`.
 * - `openai/chat.completion.text.*.json`: chat completions; the first (sorted) is served.
 * A provider with no such files gets generated answers instead.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** One recorded Yelp search body. `location` is from the sibling .meta.json (lower-cased), when present. */
export interface YelpSearchFixture {
  file: string;
  location: string | undefined;
  body: Buffer;
  total: number;
  region: unknown;
  hasBusinesses: boolean;
}

/** One recorded runPagespeed body and the hosts (lower-case) it answers for. */
export interface PageSpeedFixture {
  file: string;
  hosts: string[];
  body: Buffer;
}

/** All recorded payloads the sandbox can serve. Arrays are sorted by file name. */
export interface FixtureSet {
  dir: string;
  yelpSearch: YelpSearchFixture[];
  pagespeed: PageSpeedFixture[];
  openaiText: { file: string; body: Buffer } | undefined;
}

async function listSorted(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function hostOf(u: unknown): string | undefined {
  if (typeof u !== 'string') return undefined;
  try {
    return new URL(u).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Reads the fixture folder. Throws when `dir` itself does not exist; missing provider subfolders are fine. */
export async function loadFixtures(dir: string): Promise<FixtureSet> {
  await readdir(dir); // fail loudly on a wrong path
  const set: FixtureSet = { dir, yelpSearch: [], pagespeed: [], openaiText: undefined };

  const yelpDir = path.join(dir, 'yelp');
  for (const name of await listSorted(yelpDir)) {
    if (!/^businesses-search.*\.json$/.test(name) || name.endsWith('.meta.json') || name.startsWith('businesses-search-phone')) continue;
    const body = await readFile(path.join(yelpDir, name));
    const parsed = JSON.parse(body.toString('utf8')) as { businesses?: unknown[]; total?: number; region?: unknown };
    let location: string | undefined;
    try {
      const meta = JSON.parse(await readFile(path.join(yelpDir, name.replace(/\.json$/, '.meta.json')), 'utf8')) as {
        request?: { uri?: string };
      };
      location = meta.request?.uri ? new URL(meta.request.uri).searchParams.get('location')?.toLowerCase() : undefined;
    } catch {
      location = undefined;
    }
    set.yelpSearch.push({
      file: name,
      location,
      body,
      total: typeof parsed.total === 'number' ? parsed.total : (parsed.businesses?.length ?? 0),
      region: parsed.region ?? null,
      hasBusinesses: Array.isArray(parsed.businesses) && parsed.businesses.length > 0,
    });
  }

  const psiDir = path.join(dir, 'pagespeed');
  for (const name of await listSorted(psiDir)) {
    if (!/^runPagespeed\.v5\..*\.json$/.test(name)) continue;
    const body = await readFile(path.join(psiDir, name));
    const parsed = JSON.parse(body.toString('utf8')) as {
      id?: string;
      lighthouseResult?: { requestedUrl?: string; finalUrl?: string };
    };
    const hosts = [parsed.id, parsed.lighthouseResult?.requestedUrl, parsed.lighthouseResult?.finalUrl]
      .map(hostOf)
      .filter((h): h is string => h !== undefined);
    set.pagespeed.push({ file: name, hosts: [...new Set(hosts)], body });
  }

  const oaDir = path.join(dir, 'openai');
  const first = (await listSorted(oaDir)).find((n) => /^chat\.completion\.text\..*\.json$/.test(n));
  if (first) set.openaiText = { file: first, body: await readFile(path.join(oaDir, first)) };
  return set;
}

/** The recorded search for `location` (case-insensitive), else the first with businesses, else undefined. */
export function pickYelpFixture(set: FixtureSet, location: string): YelpSearchFixture | undefined {
  const want = location.trim().toLowerCase();
  return set.yelpSearch.find((f) => f.location === want) ?? set.yelpSearch.find((f) => f.hasBusinesses);
}

/** The recorded run whose host equals `url`'s host, else the first; undefined when there are none. */
export function pickPageSpeedFixture(set: FixtureSet, url: string): PageSpeedFixture | undefined {
  const host = hostOf(url);
  return (host ? set.pagespeed.find((f) => f.hosts.includes(host)) : undefined) ?? set.pagespeed[0];
}
