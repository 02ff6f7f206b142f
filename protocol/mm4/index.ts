export * from './address.js';
export * from './headers.js';
export * from './tables.js';
