/** WDP over SMS: user data header, segmentation, reassembly (README §d). */
export * from './udh.js';
export * from './segment.js';
export * from './reassembler.js';
