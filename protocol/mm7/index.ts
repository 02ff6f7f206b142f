export * from './model.js';
export * from './releases.js';
export * from './status.js';
export { SCHEMA, REL6_ONLY, FAULT_MESSAGES, type ElementDef, type ElementKind } from './schema.js';
export { Mm7Error, parseXml, type XmlElement, type XmlLimits, DEFAULT_XML_LIMITS } from './xml.js';
export { buildMm7Soap, buildMessageXml, parseMm7Soap, parseMessageElement, formatDateTime } from './soap.js';
export type { MimeEntity } from './mime-types.js';
export * from './exchange.js';
