/**
 * Generated Yelp Fusion search results, shaped like the recorded `GET /v3/businesses/search` bodies
 * (shared/fixtures/real/yelp/businesses-search.*.json) plus `attributes.business_url`.
 * A pure function of (seed, location, categories): the same query always lists the same businesses in the same order.
 */
import { rng, type Rng } from './prng.js';

/** Known cities: state, area codes, center coordinates. Other locations get derived values. */
const CITIES: Record<string, { state: string; area: number[]; zip: string; lat: number; lon: number }> = {
  'san francisco': { state: 'CA', area: [415, 628], zip: '941', lat: 37.7609, lon: -122.4364 },
  'los angeles': { state: 'CA', area: [213, 323], zip: '900', lat: 34.0522, lon: -118.2437 },
  'new york': { state: 'NY', area: [212, 646], zip: '100', lat: 40.7128, lon: -74.006 },
  austin: { state: 'TX', area: [512, 737], zip: '787', lat: 30.2672, lon: -97.7431 },
  chicago: { state: 'IL', area: [312, 773], zip: '606', lat: 41.8781, lon: -87.6298 },
  seattle: { state: 'WA', area: [206], zip: '981', lat: 47.6062, lon: -122.3321 },
  boston: { state: 'MA', area: [617, 857], zip: '021', lat: 42.3601, lon: -71.0589 },
  denver: { state: 'CO', area: [303, 720], zip: '802', lat: 39.7392, lon: -104.9903 },
  portland: { state: 'OR', area: [503, 971], zip: '972', lat: 45.5152, lon: -122.6784 },
  miami: { state: 'FL', area: [305, 786], zip: '331', lat: 25.7617, lon: -80.1918 },
};
const STATES = ['CA', 'TX', 'NY', 'FL', 'IL', 'WA', 'CO', 'OR', 'GA', 'NC', 'AZ', 'OH', 'PA', 'MI', 'MN'];

/** Category alias → Yelp title and the nouns business names use. */
const CATEGORIES: Record<string, { title: string; nouns: string[] }> = {
  restaurants: { title: 'Restaurants', nouns: ['Kitchen', 'Bistro', 'Grill', 'Table', 'Eatery', 'Cafe', 'Diner'] },
  plumbing: { title: 'Plumbing', nouns: ['Plumbing', 'Plumbing & Drain', 'Rooter', 'Pipe Works', 'Plumbers'] },
  hvac: { title: 'Heating & Air Conditioning/HVAC', nouns: ['Heating & Air', 'HVAC', 'Climate Control', 'Comfort Systems'] },
  electricians: { title: 'Electricians', nouns: ['Electric', 'Electrical Services', 'Electricians', 'Power & Light'] },
  dentists: { title: 'Dentists', nouns: ['Dental', 'Family Dentistry', 'Dental Studio', 'Smiles', 'Dental Care'] },
  autorepair: { title: 'Auto Repair', nouns: ['Auto Repair', 'Automotive', 'Auto Care', 'Garage', 'Motors'] },
  hair: { title: 'Hair Salons', nouns: ['Salon', 'Hair Studio', 'Hair Co.', 'Beauty Bar'] },
  landscaping: { title: 'Landscaping', nouns: ['Landscaping', 'Gardens', 'Lawn & Garden', 'Outdoor Living'] },
  roofing: { title: 'Roofing', nouns: ['Roofing', 'Roofing & Gutters', 'Roof Pros'] },
  lawyers: { title: 'Lawyers', nouns: ['Law Group', 'Law Offices', 'Legal', '& Associates'] },
  accountants: { title: 'Accountants', nouns: ['CPA', 'Accounting', 'Tax & Bookkeeping'] },
  bakeries: { title: 'Bakeries', nouns: ['Bakery', 'Bakehouse', 'Breads', 'Patisserie'] },
  coffee: { title: 'Coffee & Tea', nouns: ['Coffee', 'Roasters', 'Coffee House', 'Espresso Bar'] },
  gyms: { title: 'Gyms', nouns: ['Fitness', 'Gym', 'Athletic Club', 'Strength'] },
  chiropractors: { title: 'Chiropractors', nouns: ['Chiropractic', 'Spine & Wellness', 'Chiropractic Center'] },
  vet: { title: 'Veterinarians', nouns: ['Animal Hospital', 'Veterinary Clinic', 'Pet Care'] },
  homecleaning: { title: 'Home Cleaning', nouns: ['Cleaning', 'Maids', 'Cleaning Co.', 'Housekeeping'] },
  contractors: { title: 'Contractors', nouns: ['Construction', 'Builders', 'Remodeling', 'Contracting'] },
};
const PREFIXES = [
  'Golden', 'Bay', 'Summit', 'Oak', 'Cedar', 'Harbor', 'Pioneer', 'Union', 'Liberty', 'Riverside', 'Hillside',
  'Main Street', 'Evergreen', 'Blue Sky', 'Northside', 'Redwood', 'Maple', 'Sunset', 'Granite', 'Anchor',
  "Rosie's", "Tony's", "Maria's", "Joe's", 'Kim', 'Nguyen', 'Garcia', 'Patel', 'Johnson', 'Miller', 'Brothers',
  'Elite', 'Premier', 'Precision', 'Trusty', 'Neighborhood', 'Corner', 'Urban', 'Coastal', 'Highland',
];
const STREETS = ['Market', 'Mission', 'Valencia', 'Main', 'Oak', 'Pine', 'Elm', 'Broadway', 'Lincoln', 'Park', 'Lake', 'Hill', 'Washington', 'Cedar'];
const SUFFIXES = ['St', 'Ave', 'Blvd', 'Rd', 'Way', 'Dr'];

/** A parsed search query. `categories` is Yelp's comma-separated alias list, or undefined for all. */
export interface YelpQuery {
  location: string;
  categories: string | undefined;
}

/** Lower-case, hyphen-separated, ASCII slug (as in Yelp aliases). */
export function slug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function titleCase(text: string): string {
  return text.replace(/\w\S*/g, (w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase());
}

interface Place {
  city: string;
  state: string;
  area: number[];
  /** First three ZIP digits. */
  zip: string;
  lat: number;
  lon: number;
}

/** City, state, area codes and center for a free-text location ("Austin, TX", "san francisco"). */
export function placeOf(seed: number, location: string): Place {
  const [cityPart = '', statePart = ''] = location.split(',').map((s) => s.trim());
  const known = CITIES[cityPart.toLowerCase()];
  const r = rng(seed, 'yelp-place', location.toLowerCase());
  const stateGiven = /^[A-Za-z]{2}$/.test(statePart) ? statePart.toUpperCase() : undefined;
  return {
    city: titleCase(cityPart || location.trim()),
    state: stateGiven ?? known?.state ?? r.pick(STATES),
    area: known?.area ?? [r.int(201, 989)],
    zip: known?.zip ?? String(r.int(100, 999)),
    lat: known?.lat ?? r.float(26, 47.5, 6),
    lon: known?.lon ?? r.float(-122, -71, 6),
  };
}

/** Yelp `total` for a query: deterministic, 40–240. */
export function yelpTotal(seed: number, q: YelpQuery): number {
  return rng(seed, 'yelp-total', q.location.trim().toLowerCase(), q.categories ?? '').int(40, 240);
}

/** Yelp `region` for a query (the search center). */
export function yelpRegion(seed: number, q: YelpQuery): { center: { longitude: number; latitude: number } } {
  const p = placeOf(seed, q.location);
  return { center: { longitude: p.lon, latitude: p.lat } };
}

function categoryInfo(alias: string): { alias: string; title: string; nouns: string[] } {
  const known = CATEGORIES[alias];
  if (known) return { alias, ...known };
  const title = titleCase(alias.replace(/[_-]+/g, ' '));
  return { alias, title, nouns: [title, `${title} Co.`, `${title} Services`] };
}

function rating(r: Rng): number {
  return Math.min(5, Math.max(1, Math.round((3.9 + (r.next() + r.next() + r.next() - 1.5) * 1.1) * 2) / 2));
}

function phone(r: Rng, area: number): { phone: string; display: string } {
  const ex = r.int(200, 989);
  const line = String(r.int(0, 9999)).padStart(4, '0');
  return { phone: `+1${area}${ex}${line}`, display: `(${area}) ${ex}-${line}` };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

const listingCache = new Map<string, Record<string, unknown>[]>();

/**
 * Every business a query matches (`yelpTotal` of them), in result order. Aliases are unique within a listing
 * (`-2`, `-3` … as Yelp does). About 85% carry `attributes.business_url` (`https://<alias>.example.com`).
 */
export function yelpListing(seed: number, q: YelpQuery): Record<string, unknown>[] {
  const key = `${seed}\u001f${q.location.trim().toLowerCase()}\u001f${q.categories ?? ''}`;
  const cached = listingCache.get(key);
  if (cached) return cached;
  const place = placeOf(seed, q.location);
  const citySlug = slug(place.city);
  const total = yelpTotal(seed, q);
  const aliases = (q.categories ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const cats = (aliases.length > 0 ? aliases : ['restaurants', 'plumbing', 'dentists', 'autorepair', 'hair']).map(categoryInfo);
  const clientKey = rng(seed, 'yelp-client').chars(22);
  const seen = new Map<string, number>();
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const r = rng(seed, 'yelp-biz', key, i);
    const cat = r.pick(cats);
    const name = `${r.pick(PREFIXES)} ${r.pick(cat.nouns)}`;
    const base = `${slug(name)}-${citySlug}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const alias = n === 1 ? base : `${base}-${n}`;
    const extra = r.chance(0.5) ? categoryInfo(r.pick(Object.keys(CATEGORIES))) : undefined;
    const categories = [cat, ...(extra && extra.alias !== cat.alias ? [extra] : [])].map((c) => ({ alias: c.alias, title: c.title }));
    const address1 = `${r.int(1, 9899)} ${r.pick(STREETS)} ${r.pick(SUFFIXES)}`;
    const address2 = r.chance(0.2) ? `Ste ${r.int(1, 4)}${String(r.int(0, 20)).padStart(2, '0')}` : r.chance(0.5) ? '' : null;
    const zip = `${place.zip}${String(r.int(1, 99)).padStart(2, '0')}`;
    const ph = r.chance(0.94) ? phone(r, r.pick(place.area)) : { phone: '', display: '' };
    const isFood = ['restaurants', 'bakeries', 'coffee'].includes(cat.alias);
    const biz: Record<string, unknown> = {
      id: r.chars(22),
      alias,
      name,
      image_url: r.chance(0.9) ? `https://s3-media${r.int(1, 4)}.fl.yelpcdn.com/bphoto/${r.chars(22)}/o.jpg` : '',
      is_closed: false,
      url: `https://www.yelp.com/biz/${alias}?adjust_creative=${clientKey}&utm_campaign=yelp_api_v3&utm_medium=api_v3_business_search&utm_source=${clientKey}`,
      review_count: Math.floor(Math.exp(r.next() * 7.5)),
      categories,
      rating: rating(r),
      coordinates: { latitude: round6(place.lat + r.float(-0.06, 0.06, 6)), longitude: round6(place.lon + r.float(-0.06, 0.06, 6)) },
      transactions: isFood ? r.sample(['delivery', 'pickup', 'restaurant_reservation'], r.int(0, 2)) : [],
    };
    if (isFood || r.chance(0.3)) biz.price = '$'.repeat(r.int(1, 4));
    biz.location = {
      address1,
      address2,
      address3: '',
      city: place.city,
      zip_code: zip,
      country: 'US',
      state: place.state,
      display_address: [address1, ...(address2 ? [address2] : []), `${place.city}, ${place.state} ${zip}`],
    };
    biz.phone = ph.phone;
    biz.display_phone = ph.display;
    biz.distance = r.float(80, 12000, 6);
    biz.attributes = { business_url: r.chance(0.85) ? `https://${alias}.example.com` : null };
    out.push(biz);
  }
  if (listingCache.size > 200) listingCache.clear();
  listingCache.set(key, out);
  return out;
}
