export * from './model.js';
export * from './tables.js';
export { HEADERS, type HeaderDef, type HeaderKind } from './headers.js';
export { decodeMms, encodeMms } from './codec.js';
export * from './address.js';
export { pduToJson, pduFromJson, partToJson, partFromJson, type Json } from './json.js';
export { annotateMms, formatAnnotated, type Annotation } from './annotate.js';
export * from './push.js';
