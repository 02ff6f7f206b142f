import { ProtocolError } from '../errors.js';
import type {
  Mm7Address,
  Mm7Content,
  Mm7Envelope,
  Mm7Message,
  Mm7MessageType,
  Mm7Recipients,
  Mm7Status,
  PreviouslySentBy,
  PreviouslySentDate,
  ReplyCharging,
  SenderIdentification,
  TimeSpec,
  UaCapabilities,
} from './model.js';
import { MESSAGE_TYPES } from './model.js';
import { isRel6, namespaceOf, releaseOf, SOAP_ENV_NS, type Release } from './releases.js';
import { FAULT_MESSAGES, REL6_ONLY, SCHEMA, type ElementDef } from './schema.js';
import { statusText } from './status.js';
import { attr, child, escapeXml, Mm7Error, parseXml, type XmlElement, type XmlLimits } from './xml.js';

const SOAP12_ENV_NS = 'http://www.w3.org/2003/05/soap-envelope';
const ADDRESS_KINDS = ['Number', 'ShortCode', 'RFC2822Address'] as const;
const DURATION = /^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;
const KNOWN_TYPES = new Set<string>(MESSAGE_TYPES);

// ---------------------------------------------------------------- building

/** xs:dateTime in UTC, without milliseconds when they are zero. */
export function formatDateTime(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z');
}

function buildError(field: string, detail: string): ProtocolError {
  return new ProtocolError('BAD_VALUE', field, detail);
}

function addressXml(a: Mm7Address, field: string): string {
  if (!ADDRESS_KINDS.includes(a.kind)) throw buildError(field, `address kind ${String(a.kind)} is not Number, ShortCode or RFC2822Address`);
  let attrs = '';
  if (a.displayOnly !== undefined) attrs += ` displayOnly="${a.displayOnly}"`;
  if (a.addressCoding !== undefined) attrs += ` addressCoding="${escapeXml(a.addressCoding)}"`;
  if (a.id !== undefined) attrs += ` id="${escapeXml(a.id)}"`;
  return `<${a.kind}${attrs}>${escapeXml(a.value)}</${a.kind}>`;
}

function timeXml(t: TimeSpec, field: string): string {
  if ('absolute' in t) return formatDateTime(t.absolute);
  if (!DURATION.test(t.relative)) throw buildError(field, `"${t.relative}" is not an xs:duration`);
  return t.relative;
}

function valueXml(def: ElementDef, v: unknown, indent: string): string {
  const field = def.name;
  const el = (inner: string): string => `${indent}<${def.name}>${inner}</${def.name}>`;
  switch (def.kind) {
    case 'string':
      return el(escapeXml(String(v)));
    case 'integer':
      return el(String(v));
    case 'boolean':
      if (typeof v !== 'boolean') throw buildError(field, 'expected true or false');
      return el(String(v));
    case 'dateTime':
      if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw buildError(field, 'expected a valid Date');
      return el(formatDateTime(v));
    case 'time':
      return el(timeXml(v as TimeSpec, field));
    case 'address':
      return el(addressXml(v as Mm7Address, field));
    case 'recipients': {
      const r = v as Mm7Recipients;
      const group = (name: string, list: Mm7Address[]): string =>
        list.length ? `${indent}  <${name}>${list.map((a) => addressXml(a, name)).join('')}</${name}>\n` : '';
      const inner = group('To', r.to) + group('Cc', r.cc) + group('Bcc', r.bcc);
      if (!inner) throw new ProtocolError('MISSING_HEADER', 'Recipients', 'at least one To, Cc or Bcc address');
      return `${indent}<Recipients>\n${inner}${indent}</Recipients>`;
    }
    case 'senderIdentification': {
      const s = v as SenderIdentification;
      let inner = '';
      if (s.vaspId !== undefined) inner += `<VASPID>${escapeXml(s.vaspId)}</VASPID>`;
      if (s.vasId !== undefined) inner += `<VASID>${escapeXml(s.vasId)}</VASID>`;
      if (s.senderAddress !== undefined) inner += `<SenderAddress>${addressXml(s.senderAddress, 'SenderAddress')}</SenderAddress>`;
      return el(inner);
    }
    case 'status': {
      const s = v as Mm7Status;
      if (!Number.isInteger(s.code)) throw buildError(field, 'StatusCode must be an integer');
      let inner = `<StatusCode>${s.code}</StatusCode><StatusText>${escapeXml(s.text ?? statusText(s.code))}</StatusText>`;
      if (s.details !== undefined) inner += `<Details>${escapeXml(s.details)}</Details>`;
      return el(inner);
    }
    case 'content': {
      const c = v as Mm7Content;
      const adapt = c.allowAdaptations === undefined ? '' : ` allowAdaptations="${c.allowAdaptations}"`;
      return `${indent}<Content href="${escapeXml(c.href)}"${adapt}/>`;
    }
    case 'replyCharging': {
      const rc = v as ReplyCharging;
      let attrs = '';
      if (rc.replyChargingSize !== undefined) attrs += ` replyChargingSize="${rc.replyChargingSize}"`;
      if (rc.replyDeadline !== undefined) attrs += ` replyDeadline="${timeXml(rc.replyDeadline, field)}"`;
      return `${indent}<ReplyCharging${attrs}/>`;
    }
    case 'deliveryCondition':
      return el((v as number[]).map((dc) => `<DC>${dc}</DC>`).join(''));
    case 'uaCapabilities': {
      const u = v as UaCapabilities;
      let attrs = '';
      if (u.uaProf !== undefined) attrs += ` UAProf="${escapeXml(u.uaProf)}"`;
      if (u.timeStamp !== undefined) attrs += ` TimeStamp="${formatDateTime(u.timeStamp)}"`;
      return `${indent}<UACapabilities${attrs}/>`;
    }
    case 'previouslySentBy':
      return el((v as PreviouslySentBy[]).map((p) => `<UserAgent sequence="${p.sequence}">${addressXml(p.address, field)}</UserAgent>`).join(''));
    case 'previouslySentDate':
      return el((v as PreviouslySentDate[]).map((p) => `<DateTime sequence="${p.sequence}">${formatDateTime(p.dateTime)}</DateTime>`).join(''));
  }
}

/** The message element alone, in schema order, checked against the release. */
export function buildMessageXml(message: Mm7Message, release: Release, indent = ''): string {
  const schema = SCHEMA[message.type];
  if (!schema) throw buildError('message', `unknown MM7 message ${String(message.type)}`);
  if (REL6_ONLY.has(message.type) && !isRel6(release)) throw buildError(message.type, `not defined in ${release}`);
  const lines: string[] = [];
  for (const def of schema) {
    const value = message[def.key];
    if (value === undefined) {
      if (def.required) throw new ProtocolError('MISSING_HEADER', def.name, `${message.type} must carry ${def.name}`);
      continue;
    }
    if (def.rel6 && !isRel6(release)) throw buildError(def.name, `not defined in the ${release} schema`);
    lines.push(valueXml(def, value, `${indent}  `));
  }
  return `${indent}<${message.type} xmlns="${namespaceOf(release)}">\n${lines.join('\n')}\n${indent}</${message.type}>`;
}

/**
 * A whole SOAP 1.1 envelope. The TransactionID goes in the header with
 * mustUnderstand="1" (§a.3); RSErrorRsp and VASPErrorRsp go inside a Fault
 * (faultcode Client for client and service errors, 2000–2999 and 4000–4999; Server otherwise).
 */
export function buildMm7Soap(env: Mm7Envelope): string {
  const ns = namespaceOf(env.release);
  const header =
    env.transactionId === undefined
      ? ''
      : `  <env:Header>\n    <mm7:TransactionID xmlns:mm7="${ns}" env:mustUnderstand="1">${escapeXml(env.transactionId)}</mm7:TransactionID>\n  </env:Header>\n`;
  let body: string;
  if (FAULT_MESSAGES.has(env.message.type)) {
    const code = env.message.status?.code ?? 3000;
    const fault = env.fault ?? { code: Math.floor(code / 1000) === 3 ? 'env:Server' : 'env:Client', string: statusText(code) };
    body =
      `    <env:Fault>\n      <faultcode>${escapeXml(fault.code)}</faultcode>\n      <faultstring>${escapeXml(fault.string)}</faultstring>\n` +
      `      <detail>\n${buildMessageXml(env.message, env.release, '        ')}\n      </detail>\n    </env:Fault>`;
  } else {
    body = buildMessageXml(env.message, env.release, '    ');
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="${SOAP_ENV_NS}">\n${header}  <env:Body>\n${body}\n  </env:Body>\n</env:Envelope>\n`;
}

// ----------------------------------------------------------------- parsing

const invalid = (field: string, detail: string): Mm7Error => new Mm7Error('BAD_VALUE', field, detail, 4004);

function parseBoolean(text: string, field: string): boolean {
  // xs:boolean; instantcom-mm7 sends True/False, so case is ignored.
  switch (text.trim().toLowerCase()) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      throw invalid(field, `"${text}" is not a boolean`);
  }
}

function parseInteger(text: string, field: string): number {
  const t = text.trim();
  if (!/^[+-]?\d{1,15}$/.test(t)) throw invalid(field, `"${text}" is not an integer`);
  return Number(t);
}

function parseDateTime(text: string, field: string): Date {
  const t = text.trim();
  // xs:dateTime; without a zone it is taken as UTC, which is what MMS-Cs do.
  if (!/^-?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$/.test(t)) throw invalid(field, `"${text}" is not an xs:dateTime`);
  const d = new Date(/(Z|[+-]\d\d:\d\d)$/.test(t) ? t : `${t}Z`);
  if (Number.isNaN(d.getTime())) throw invalid(field, `"${text}" is not a valid date`);
  return d;
}

function parseTime(text: string, field: string): TimeSpec {
  const t = text.trim();
  if (t.startsWith('P') || t.startsWith('-P')) {
    if (!DURATION.test(t)) throw invalid(field, `"${text}" is not an xs:duration`);
    return { relative: t };
  }
  return { absolute: parseDateTime(t, field) };
}

function parseAddressChild(el: XmlElement, field: string): Mm7Address {
  const kind = ADDRESS_KINDS.find((k) => k === el.local);
  if (!kind) throw invalid(field, `<${el.local}> is not Number, ShortCode or RFC2822Address`);
  const a: Mm7Address = { kind, value: el.text.trim() };
  if (a.value === '') throw invalid(field, `empty <${kind}>`);
  const displayOnly = attr(el, 'displayOnly');
  if (displayOnly !== undefined) a.displayOnly = parseBoolean(displayOnly, `${field} displayOnly`);
  const coding = attr(el, 'addressCoding');
  if (coding !== undefined) {
    if (coding !== 'encrypted' && coding !== 'obfuscated') throw invalid(field, `addressCoding "${coding}"`);
    a.addressCoding = coding;
  }
  const id = attr(el, 'id');
  if (id !== undefined) a.id = id;
  return a;
}

function parseAddress(el: XmlElement, field: string): Mm7Address {
  const first = el.children[0];
  if (!first || el.children.length !== 1) throw invalid(field, 'an address holds exactly one Number, ShortCode or RFC2822Address');
  return parseAddressChild(first, field);
}

function parseValue(def: ElementDef, el: XmlElement): unknown {
  const field = def.name;
  switch (def.kind) {
    case 'string':
      return el.text;
    case 'integer':
      return parseInteger(el.text, field);
    case 'boolean':
      return parseBoolean(el.text, field);
    case 'dateTime':
      return parseDateTime(el.text, field);
    case 'time':
      return parseTime(el.text, field);
    case 'address':
      return parseAddress(el, field);
    case 'recipients': {
      const r: Mm7Recipients = { to: [], cc: [], bcc: [] };
      for (const group of el.children) {
        const list = group.local === 'To' ? r.to : group.local === 'Cc' ? r.cc : group.local === 'Bcc' ? r.bcc : undefined;
        if (!list) throw invalid(field, `<${group.local}> is not To, Cc or Bcc`);
        for (const a of group.children) list.push(parseAddressChild(a, `Recipients/${group.local}`));
      }
      if (r.to.length + r.cc.length + r.bcc.length === 0) throw invalid(field, 'no recipient address');
      return r;
    }
    case 'senderIdentification': {
      const s: SenderIdentification = {};
      const vasp = child(el, 'VASPID');
      const vas = child(el, 'VASID');
      const address = child(el, 'SenderAddress');
      if (vasp) s.vaspId = vasp.text;
      if (vas) s.vasId = vas.text;
      if (address) s.senderAddress = parseAddress(address, 'SenderAddress');
      return s;
    }
    case 'status': {
      const code = child(el, 'StatusCode');
      if (!code) throw invalid('StatusCode', 'Status without StatusCode');
      const s: Mm7Status = { code: parseInteger(code.text, 'StatusCode') };
      const text = child(el, 'StatusText');
      if (text) s.text = text.text;
      const details = child(el, 'Details');
      if (details) s.details = details.text;
      return s;
    }
    case 'content': {
      const href = attr(el, 'href');
      if (href === undefined || href.trim() === '') throw invalid(field, 'Content without href');
      const c: Mm7Content = { href: href.trim() };
      const adapt = attr(el, 'allowAdaptations');
      if (adapt !== undefined) c.allowAdaptations = parseBoolean(adapt, 'allowAdaptations');
      return c;
    }
    case 'replyCharging': {
      const rc: ReplyCharging = {};
      const size = attr(el, 'replyChargingSize');
      const deadline = attr(el, 'replyDeadline');
      if (size !== undefined) rc.replyChargingSize = parseInteger(size, 'replyChargingSize');
      if (deadline !== undefined) rc.replyDeadline = parseTime(deadline, 'replyDeadline');
      return rc;
    }
    case 'deliveryCondition':
      return el.children.filter((c) => c.local === 'DC').map((c) => parseInteger(c.text, 'DC'));
    case 'uaCapabilities': {
      const u: UaCapabilities = {};
      const prof = attr(el, 'UAProf');
      const ts = attr(el, 'TimeStamp');
      if (prof !== undefined) u.uaProf = prof;
      if (ts !== undefined) u.timeStamp = parseDateTime(ts, 'UACapabilities TimeStamp');
      return u;
    }
    case 'previouslySentBy':
      return el.children.map((ua) => ({ sequence: parseInteger(attr(ua, 'sequence') ?? '', 'sequence'), address: parseAddress(ua, 'UserAgent') }));
    case 'previouslySentDate':
      return el.children.map((d) => ({ sequence: parseInteger(attr(d, 'sequence') ?? '', 'sequence'), dateTime: parseDateTime(d.text, 'DateTime') }));
  }
}

/** Each message type's field definitions by element name, built once (parseMessageElement runs on every request). */
const FIELDS_BY_NAME = new Map<Mm7MessageType, Map<string, ElementDef>>();

function fieldsByName(type: Mm7MessageType): Map<string, ElementDef> {
  let byName = FIELDS_BY_NAME.get(type);
  if (!byName) FIELDS_BY_NAME.set(type, (byName = new Map(SCHEMA[type].map((d) => [d.name, d]))));
  return byName;
}

/** Reads an MM7 message element (already namespace-resolved) by its schema. Unknown children are ignored, as lenient peers must. */
export function parseMessageElement(el: XmlElement, type: Mm7MessageType): Mm7Message {
  const message: Mm7Message = { type };
  const fields = message as Record<string, unknown>;
  const byName = fieldsByName(type);
  for (const c of el.children) {
    const def = byName.get(c.local);
    if (!def || fields[def.key] !== undefined) continue;
    fields[def.key] = parseValue(def, c);
  }
  for (const def of SCHEMA[type]) {
    if (def.required && fields[def.key] === undefined) throw new Mm7Error('MISSING_HEADER', def.name, `${type} must carry ${def.name}`, 4004);
  }
  return message;
}

function isEnvelopeNs(ns: string): boolean {
  return ns === SOAP_ENV_NS || ns === SOAP12_ENV_NS;
}

/**
 * Parses a SOAP envelope holding one MM7 message (or a Fault with an
 * RSErrorRsp / VASPErrorRsp). Elements are matched by namespace and local
 * name, whatever the prefixes. Errors are Mm7Error with the status to
 * answer and, where read, the release and TransactionID to echo.
 */
export function parseMm7Soap(xml: string, limits?: Partial<XmlLimits>): Mm7Envelope {
  const root = parseXml(xml, limits);
  if (root.local !== 'Envelope' || !isEnvelopeNs(root.ns)) {
    throw new Mm7Error('BAD_VALUE', 'SOAP envelope', `root is <${root.local}> in "${root.ns}", not a SOAP Envelope`, 2007);
  }
  const header = root.children.find((c) => c.local === 'Header' && isEnvelopeNs(c.ns));
  const tx = header?.children.find((c) => c.local === 'TransactionID');
  const context: Mm7Error['context'] = {};
  if (tx) context.transactionId = tx.text;
  const txRelease = tx ? releaseOf(tx.ns) : undefined;
  if (txRelease) context.release = txRelease;
  try {
    const body = root.children.find((c) => c.local === 'Body' && isEnvelopeNs(c.ns));
    if (!body || body.children.length === 0) throw new Mm7Error('MISSING_HEADER', 'Body', 'SOAP envelope without a Body element', 2007);
    let el = body.children[0]!;
    let fault: Mm7Envelope['fault'];
    if (el.local === 'Fault' && isEnvelopeNs(el.ns)) {
      fault = { code: child(el, 'faultcode')?.text ?? '', string: child(el, 'faultstring')?.text ?? '' };
      const detail = child(el, 'detail') ?? child(el, 'Detail');
      const inner = detail?.children[0];
      if (!inner) throw new Mm7Error('MISSING_HEADER', 'detail', `SOAP Fault without an MM7 error response (${fault.code}: ${fault.string})`, 2007);
      el = inner;
    }
    const release = releaseOf(el.ns);
    if (!release) {
      const known = KNOWN_TYPES.has(el.local);
      throw new Mm7Error('UNSUPPORTED', el.local, known ? `namespace "${el.ns}" is not an MM7 release this MMS-C supports` : `<${el.local}> in "${el.ns}" is not an MM7 message`, known ? 4002 : 2007);
    }
    context.release = release;
    if (!KNOWN_TYPES.has(el.local)) throw new Mm7Error('UNSUPPORTED', el.local, `<${el.local}> is not an MM7 operation`, 4003);
    const version = child(el, 'MM7Version');
    if (version) context.mm7Version = version.text;
    const message = parseMessageElement(el, el.local as Mm7MessageType);
    const env: Mm7Envelope = { release, message };
    if (context.transactionId !== undefined) env.transactionId = context.transactionId;
    if (fault) env.fault = fault;
    return env;
  } catch (e) {
    throw e instanceof Mm7Error ? e.withContext(context) : e;
  }
}

