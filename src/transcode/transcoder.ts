/**
 * The transcoder of server 1 (issue 7): on retrieval, the message's parts
 * adapted to the terminal's profile — images resized and re-encoded, text
 * converted and cut, media the terminal cannot take replaced by a notice,
 * the SMIL rewritten to match — so the whole M-Retrieve.conf fits the
 * profile's size limit. The stored original is never touched: every result
 * is a new list of new parts.
 */
import { requestIdField } from '../mmsc/log.js';
import type { StoredMessage, StoredPart } from '../mmsc/model.js';
import type { TerminalHints, Transcoder } from '../mmsc/mmsc.js';
import { ProtocolError } from '../../protocol/errors.js';
import { parseMimeType, retrieveConfSize, type MessageHead } from '../mmsc/convert.js';
import { accepts, profileId, type TerminalProfile } from './profile.js';
import type { ProfileMatch, ProfileRegistry } from './registry.js';
import { cacheKey, contentHash, MemoryAdaptationCache, type Adaptation, type AdaptationCache, type PartAction } from './cache.js';
import { SharpImageBackend, type ImageBackend } from './image.js';
import { fitParts, keptAsIs, partFitsAsIs, partName, planParts, prepareImages } from './assemble.js';

/** allowAdaptations="false" and the message does not fit the terminal: the MM1 front end answers Error-permanent-content-unsupported. */
export class AdaptationRefusedError extends Error {
  override readonly name = 'AdaptationRefusedError';
  readonly code = 'TRANSCODE_ADAPTATION_NOT_ALLOWED';
  /** X-Mms-Retrieve-Status for the M-Retrieve.conf (ENC §7.3.50: 0xE3). */
  readonly retrieveStatus = 'Error-permanent-content-unsupported';
  constructor(
    readonly messageId: string,
    readonly profile: string,
    reason: string,
  ) {
    super(`message ${messageId} may not be adapted (allowAdaptations=false) and does not fit profile ${profile}: ${reason}`);
  }
}

export interface TranscoderOptions {
  profiles: ProfileRegistry;
  /** The image work (default: sharp); tests inject a counting one. */
  images?: ImageBackend;
  /** Default: 64 MiB in memory. Give a TieredAdaptationCache over DB1 for the persistent one. */
  cache?: AdaptationCache;
  /** A subscriber's profile in DB1 (a profile name or a UAProf URL): `(a) => db1.getSubscriber(a)?.profile ?? undefined`. */
  subscriberProfile?: (address: string) => string | undefined;
  /**
   * A message whose sender said allowAdaptations="false" and that does not
   * fit the terminal: `deliver` it unadapted (the terminal may still cope)
   * or `refuse` it with an AdaptationRefusedError.
   */
  notAllowed?: 'deliver' | 'refuse';
  log?: (event: Record<string, unknown>) => void;
}

export interface AdaptationReport extends Adaptation {
  match: ProfileMatch;
  /** Octets of the M-Retrieve.conf these parts make (with the token length assumed). */
  size: number;
  fits: boolean;
  cached: boolean;
}

/** Headers of the PDU vary with subject and addresses: rounding their size up to this step lets messages with the same content share cache entries. */
const OVERHEAD_STEP = 512;
/** Every part's headers may grow when it is renamed or replaced. */
const PART_HEADER_SLACK = 48;
/** Rounds of shrinking when the assembled message still exceeds the limit. */
const MAX_PASSES = 4;
const EMPTY = Buffer.alloc(0);
/** Content hashes remembered by message id (~150 octets each). */
const HASH_MEMO_ENTRIES = 10_000;

export class TerminalTranscoder implements Transcoder {
  readonly #profiles: ProfileRegistry;
  readonly #images: ImageBackend;
  readonly #cache: AdaptationCache;
  readonly #inFlight = new Map<string, Promise<Adaptation>>();
  readonly #hashes = new Map<string, { hash: string; size: number; count: number }>();

  constructor(readonly opts: TranscoderOptions) {
    this.#profiles = opts.profiles;
    this.#images = opts.images ?? new SharpImageBackend();
    this.#cache = opts.cache ?? new MemoryAdaptationCache(64 * 2 ** 20);
  }

  /** The Transcoder contract: the parts to serve this terminal (the original ones when there is nothing to do). */
  async adapt(message: StoredMessage, parts: StoredPart[], terminal: TerminalHints): Promise<StoredPart[]> {
    const recipient = terminal.recipient;
    const match = this.match(terminal);
    const token = message.recipients.find((r) => r.address === recipient)?.token ?? longestToken(message);
    let report: AdaptationReport;
    try {
      report = await this.adaptFor(message, parts, match, token, this.#storedContentHash(message, parts));
    } catch (e) {
      if (e instanceof AdaptationRefusedError) throw e;
      // Bad media are handled part by part; reaching here is a bug, and the terminal still gets its message.
      this.opts.log?.({
        event: 'transcode-failed',
        messageId: message.messageId,
        ...requestIdField(terminal.requestId),
        profile: match.profile.name,
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
      return parts;
    }
    this.opts.log?.({
      event: 'transcoded',
      messageId: message.messageId,
      ...requestIdField(terminal.requestId),
      profile: match.profile.name,
      matchedBy: match.by,
      size: report.size,
      cached: report.cached,
      actions: report.actions.filter((a) => a.action !== 'kept').map((a) => `${a.action} ${a.detail}`),
    });
    return report.parts;
  }

  /** The profile for these hints; `terminal.recipient` leads to the subscriber's profile. */
  match(terminal: TerminalHints): ProfileMatch {
    const recipient = terminal.recipient;
    const subscriberProfile = recipient === undefined ? undefined : this.opts.subscriberProfile?.(recipient);
    return this.#profiles.match({
      ...(terminal.profileUrl !== undefined ? { profileUrl: terminal.profileUrl } : {}),
      ...(terminal.userAgent !== undefined ? { userAgent: terminal.userAgent } : {}),
      ...(subscriberProfile ? { subscriberProfile } : {}),
    });
  }

  /**
   * The content hash of a stored message's parts, computed once per
   * message: DB1 never changes a message's parts (it only deletes them), so
   * the id and the stored size identify the content. Hashing a 300 KB
   * message costs more than the whole warm-cache answer otherwise.
   */
  #storedContentHash(message: StoredMessage, parts: readonly StoredPart[]): string {
    const total = parts.reduce((n, p) => n + p.data.length, 0);
    const memo = this.#hashes.get(message.messageId);
    if (memo && memo.size === total && memo.count === parts.length) return memo.hash;
    const hash = contentHash(parts);
    if (this.#hashes.size >= HASH_MEMO_ENTRIES) this.#hashes.delete(this.#hashes.keys().next().value!);
    this.#hashes.set(message.messageId, { hash, size: total, count: parts.length });
    return hash;
  }

  /**
   * Adaptation with its report (the CLI and the tests read it); `token` is
   * the transaction id the PDU will carry; `hash`, the parts' contentHash
   * when the caller knows it.
   */
  async adaptFor(head: MessageHead, parts: StoredPart[], match: ProfileMatch, token = 'x'.repeat(32), hash?: string): Promise<AdaptationReport> {
    const profile = match.profile;
    const headOnly = retrieveConfSize(head, [], token);
    const multipart = parseMimeType(head.envelope.contentType).mediaType.startsWith('multipart/');
    const sizeOf = (ps: readonly StoredPart[]): number => retrieveConfSize(head, ps, token);

    if (!head.envelope.allowAdaptations) {
      const size = sizeOf(parts);
      const unaccepted = parts.map((p) => parseMimeType(p.contentType).mediaType).filter((t) => !accepts(profile, t));
      const fits = size <= profile.maxMessageSize && unaccepted.length === 0;
      if (!fits && this.opts.notAllowed === 'refuse') {
        const reason = size > profile.maxMessageSize ? `${size} octets, the limit is ${profile.maxMessageSize}` : `${unaccepted.join(', ')} not accepted`;
        throw new AdaptationRefusedError(head.messageId, profile.name, reason);
      }
      const actions = parts.map((p, index): PartAction => ({ index, action: 'kept', detail: `${partName(p, index)}: adaptation not allowed by the sender` }));
      return { parts, actions, match, size, fits, cached: false };
    }

    // Content hash first: a warm cache answers without looking at the media.
    const overhead = Math.ceil((headOnly + 1) / OVERHEAD_STEP) * OVERHEAD_STEP;
    const key = cacheKey(hash ?? contentHash(parts), profileId(profile), `${overhead}${multipart ? '' : ':single'}`);
    let { adaptation, cached } = await this.#cachedOrComputed(key, () => this.#compute(head, parts, profile, overhead, multipart, token, true));
    // Every part suits the terminal as stored and, with this message's own head, the whole fits: the originals go,
    // the very Buffers. The verdict is exact per head, though the cache entry is shared by heads of one size step.
    if (adaptation.asIsCost !== undefined && headOnly + adaptation.asIsCost <= profile.maxMessageSize) {
      const actions = planParts(parts).map(keptAsIs);
      return { parts, actions, partsCost: adaptation.asIsCost, asIsCost: adaptation.asIsCost, asIs: true, match, size: headOnly + adaptation.asIsCost, fits: true, cached };
    }
    if (adaptation.asIs) {
      // Decided for a shorter head of the same step; this one tips the message over: it needs a real adaptation.
      ({ adaptation, cached } = await this.#cachedOrComputed(`${key}:adapted`, () => this.#compute(head, parts, profile, overhead, multipart, token, false)));
    }
    // The parts' share of the PDU does not depend on the headers: a cached result needs no second encoding.
    const size = adaptation.partsCost !== undefined ? headOnly + adaptation.partsCost : sizeOf(adaptation.parts);
    return { ...adaptation, match, size, fits: size <= profile.maxMessageSize, cached };
  }

  /** The cache entry for `key`, or the computed one (once for concurrent callers), stored in the cache. */
  async #cachedOrComputed(key: string, compute: () => Promise<Adaptation>): Promise<{ adaptation: Adaptation; cached: boolean }> {
    const hit = this.#cache.get(key);
    if (hit) return { adaptation: hit, cached: true };
    const pending = this.#inFlight.get(key);
    // The same content fetched by several recipients at once is adapted once.
    if (pending) return { adaptation: await pending, cached: false };
    const computing = compute().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, computing);
    const adaptation = await computing;
    // The memory tier takes it at once; the terminal does not wait for the DB1 commit.
    this.#cache.set(key, adaptation).catch((e: unknown) => this.opts.log?.({ event: 'transcode-cache-failed', error: String(e) }));
    return { adaptation, cached: false };
  }

  /**
   * The parts to send: none when every part suits the terminal as stored
   * and the whole fits with this head (`asIs`; allowed unless `mayGoAsIs`
   * is false); else passes of fitting with a shrinking budget until the
   * assembled message fits, each part that can stay unchanged staying so.
   */
  async #compute(head: MessageHead, parts: StoredPart[], profile: TerminalProfile, overhead: number, multipart: boolean, token: string, mayGoAsIs: boolean): Promise<Adaptation> {
    const plans = planParts(parts);
    // What the parts cost beyond their data: the part headers, as the PDU will encode them.
    const headOnly = retrieveConfSize(head, [], token);
    const partsCost = (ps: readonly StoredPart[]): number => retrieveConfSize(head, ps, token) - headOnly;
    // Probes every image; encodes only those the terminal cannot take as they are.
    const images = await prepareImages(this.#images, plans, profile, multipart);
    const asIsCost = plans.every((p) => partFitsAsIs(p, images, profile, multipart)) ? encodableCost(parts, partsCost) : undefined;
    if (mayGoAsIs && asIsCost !== undefined && headOnly + asIsCost <= profile.maxMessageSize) {
      // The cache keeps no copy of the originals: the caller has them.
      return { parts: [], actions: plans.map(keptAsIs), partsCost: asIsCost, asIs: true, asIsCost };
    }
    const limit = profile.maxMessageSize - overhead;
    const headerCost = headersCost(parts, partsCost) + PART_HEADER_SLACK * parts.length;
    let budget = limit - headerCost;
    let result: Adaptation | undefined;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      result = await fitParts(this.#images, plans, images, profile, Math.max(0, budget), multipart);
      result.partsCost = partsCost(result.parts);
      if (asIsCost !== undefined) result.asIsCost = asIsCost;
      const over = result.partsCost - limit;
      if (over <= 0) return result;
      budget -= over + 256 * (pass + 1);
    }
    return result!;
  }
}


/** What the parts cost as they are; undefined when a header cannot be written in WSP (such a part must change). */
function encodableCost(parts: readonly StoredPart[], partsCost: (ps: readonly StoredPart[]) => number): number | undefined {
  try {
    return partsCost(parts);
  } catch (e) {
    if (e instanceof ProtocolError) return undefined;
    throw e;
  }
}

/**
 * What the part headers cost. A parameter WSP cannot write (a charset
 * alias such as utf8) is replaced by the adaptation, so it is counted by
 * its text length rather than failing the whole message.
 */
function headersCost(parts: readonly StoredPart[], partsCost: (ps: readonly StoredPart[]) => number): number {
  const empty = parts.map((p) => ({ ...p, data: EMPTY }));
  const exact = encodableCost(empty, partsCost);
  if (exact !== undefined) return exact;
  const bare = empty.map((p) => ({ ...p, contentType: parseMimeType(p.contentType).mediaType }));
  return partsCost(bare) + parts.reduce((n, p) => n + p.contentType.length, 0);
}

function longestToken(message: StoredMessage): string {
  const n = Math.max(32, ...message.recipients.map((r) => r.token.length));
  return 'x'.repeat(n);
}
