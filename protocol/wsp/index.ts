export { WspReader } from './reader.js';
export { WspWriter, uintvarSize } from './writer.js';
export * from './tables.js';
export * from './charset.js';
export * from './values.js';
export * from './headers.js';
export * from './multipart.js';
export * from './push.js';
