/** The transcoder (issue 7): terminal profiles, their matching, and content adaptation on retrieval. */
export * from './profile.js';
export * from './uaprof.js';
export * from './registry.js';
export * from './image.js';
export * from './fit.js';
export * from './text.js';
export * from './smil.js';
export * from './cache.js';
export * from './exif.js';
export * from './assemble.js';
export * from './transcoder.js';
export * from './setup.js';
