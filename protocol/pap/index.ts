export * from './address.js';
export * from './codes.js';
export * from './control.js';
export * from './multipart.js';
