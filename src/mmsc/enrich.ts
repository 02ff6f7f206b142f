/**
 * Reformatting and enrichment for archive subscribers (issue 8): when an
 * archive subscriber fetches a message, the M-Retrieve.conf gets one more
 * text part — a notice that the message is (or is being) archived, the
 * link to the subscriber's archive, and where the message was taken (the
 * images' EXIF GPS, or a location server 1 knows for the sender) — with a
 * SMIL region of its own when the message has a presentation. The forward
 * to server 2 carries the same data (AdditionalData), so the archived copy
 * says the same thing.
 *
 * Everything here works on copies: the stored original is never touched.
 */
import type { AdditionalData, Geolocation } from '../store/db2.js';
import { parseMimeType } from './convert.js';
import type { StoredPart } from './model.js';

// Not the archive forward's JSON part (ARCHIVE_INFO_CID in src/archive/forward.ts), which it used to share.
export const ENRICHMENT_CONTENT_ID = 'archive-notice@mmsgw';
export const ENRICHMENT_LOCATION = 'archive-info.txt';
const REGION = 'ArchiveInfo';

export interface EnrichmentConfig {
  notice: boolean;
  link: boolean;
  geolocation: boolean;
  /** Locations server 1 knows for senders (normalised address → place). */
  senderLocations: Record<string, { lat: number; lon: number; label?: string }>;
  /** Optional HTTP lookup: `{address}` is replaced; answers JSON {lat, lon, label?} or 404. */
  senderLocationUrl?: string;
  timeoutMs: number;
}

export interface EnrichmentInput {
  sender: string;
  parts: readonly StoredPart[];
  /** The subscriber's archive link state: 'archived' once server 2 has it. */
  archived: boolean;
  archiveId?: string | null;
  archiveLink?: string | null;
}

/** Reads EXIF GPS from an image (the transcoder's reader), injected so this module stays free of sharp. */
export type GeolocationReader = (data: Buffer) => Promise<{ lat: number; lon: number } | undefined>;

export class Enricher {
  readonly #fetch: typeof fetch;
  constructor(
    private readonly config: EnrichmentConfig,
    private readonly readGeolocation?: GeolocationReader,
    fetchImpl?: typeof fetch,
  ) {
    this.#fetch = fetchImpl ?? fetch;
  }

  /** The additional data for one subscriber's copy; {} when there is nothing to add. */
  async additionalData(input: EnrichmentInput): Promise<AdditionalData> {
    const out: AdditionalData = {};
    if (this.config.notice) {
      out.notice = input.archived
        ? `This message is kept in your archive${input.archiveId ? ` (reference ${input.archiveId})` : ''}; it stays there after it expires here.`
        : 'This message is being copied to your archive; it will stay there after it expires here.';
    }
    if (this.config.link && input.archiveLink) out.archiveLink = input.archiveLink;
    if (this.config.geolocation) {
      const where = await this.#geolocation(input);
      if (where) out.geolocation = where;
    }
    return out;
  }

  async #geolocation(input: EnrichmentInput): Promise<Geolocation | undefined> {
    if (this.readGeolocation) {
      for (const p of input.parts) {
        if (!parseMimeType(p.contentType).mediaType.startsWith('image/')) continue;
        const gps = await this.readGeolocation(p.data).catch(() => undefined);
        if (gps) return { lat: gps.lat, lon: gps.lon, source: 'exif' };
      }
    }
    const known = this.config.senderLocations[input.sender];
    if (known) return { lat: known.lat, lon: known.lon, source: 'sender-location', ...(known.label !== undefined ? { label: known.label } : {}) };
    if (this.config.senderLocationUrl) {
      try {
        const res = await this.#fetch(this.config.senderLocationUrl.replace('{address}', encodeURIComponent(input.sender)), { signal: AbortSignal.timeout(this.config.timeoutMs) });
        if (res.status !== 200) return undefined;
        const body = (await res.json()) as { lat?: unknown; lon?: unknown; label?: unknown };
        if (typeof body.lat !== 'number' || typeof body.lon !== 'number' || Math.abs(body.lat) > 90 || Math.abs(body.lon) > 180) return undefined;
        return { lat: body.lat, lon: body.lon, source: 'sender-location', ...(typeof body.label === 'string' ? { label: body.label.slice(0, 256) } : {}) };
      } catch {
        return undefined; // the lookup is a nicety: never a reason to fail a retrieval
      }
    }
    return undefined;
  }
}

/** The text of the added part. */
export function enrichmentText(a: AdditionalData): string {
  const lines: string[] = [];
  if (a.notice) lines.push(a.notice);
  if (a.archiveLink) lines.push(`Your archive: ${a.archiveLink}`);
  if (a.geolocation) {
    const g = a.geolocation;
    const where = `${g.lat.toFixed(5)}, ${g.lon.toFixed(5)}`;
    lines.push(`Location: ${g.label ? `${g.label} (${where})` : where}${g.source === 'exif' ? ' (from the photo)' : ''}`);
  }
  return lines.join('\n');
}

/**
 * The message's parts and top-level type with the enrichment part added:
 * a text part after the others, and, when there is a SMIL presentation, a
 * region for it and a slide that shows it. A single-part message becomes
 * multipart/mixed.
 */
export function withEnrichment(contentType: string, parts: readonly StoredPart[], a: AdditionalData): { contentType: string; parts: StoredPart[] } {
  const text = enrichmentText(a);
  if (text === '') return { contentType, parts: [...parts] };
  const info: StoredPart = { contentType: 'text/plain; charset=utf-8', contentId: ENRICHMENT_CONTENT_ID, contentLocation: ENRICHMENT_LOCATION, data: Buffer.from(text, 'utf8') };
  const top = parseMimeType(contentType);
  if (!top.mediaType.startsWith('multipart/')) return { contentType: 'multipart/mixed', parts: [...parts, info] };
  const out = parts.map((p) => {
    if (parseMimeType(p.contentType).mediaType !== 'application/smil') return p;
    const smil = addSmilSlide(p.data.toString('utf8'));
    return smil === undefined ? p : { ...p, data: Buffer.from(smil, 'utf8') };
  });
  out.push(info);
  return { contentType, parts: out };
}

/**
 * Adds a region (when the SMIL has a layout) and a last slide showing the
 * enrichment text. undefined when the document has no <body> to add to:
 * the part then stays as it was, and the text part is still in the message.
 */
export function addSmilSlide(smil: string): string | undefined {
  const bodyEnd = smil.search(/<\/body\s*>/i);
  if (bodyEnd < 0) return undefined;
  const hasLayout = /<layout[\s>]/i.test(smil);
  const regionAttr = hasLayout ? ` region="${REGION}"` : '';
  const slide = `<par dur="5000ms"><text src="cid:${ENRICHMENT_CONTENT_ID}"${regionAttr}/></par>`;
  let out = `${smil.slice(0, bodyEnd)}${slide}${smil.slice(bodyEnd)}`;
  if (hasLayout) {
    const layoutEnd = out.search(/<\/layout\s*>/i);
    if (layoutEnd >= 0) out = `${out.slice(0, layoutEnd)}<region id="${REGION}" top="0" left="0" width="100%" height="100%" fit="scroll"/>${out.slice(layoutEnd)}`;
  }
  return out;
}
