/**
 * Multipart bodies (boundary `b`) that both splitter test files use: the
 * in-memory splitter's own assertions, and the streaming splitter's
 * every-cut comparison with it.
 */

/** A SOAP root part: what every MM7 body starts with. */
export const SOAP_PART = '--b\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n';

/**
 * Preamble and epilogue at every level, a closing delimiter in the
 * preamble, delimiters after a close, and a multipart never closed that an
 * outer delimiter ends. Its parts: text/xml, multipart/related (SMIL and a
 * multipart/mixed of 'leaf 1' and 'leaf 2'), multipart/mixed ('never closed').
 */
export const NESTED_MULTIPART =
  'preamble --b-- (a closing delimiter in the preamble is preamble)\r\n--b--\r\n' +
  SOAP_PART +
  '--b\r\nContent-Type: multipart/related; boundary="r"; start="<s>"\r\n\r\nrelated preamble\r\n' +
  '--r\r\nContent-Type: application/smil\r\nContent-ID: <s>\r\n\r\n<smil/>\r\n' +
  '--r\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\r\nleaf 1\r\n--m\r\n\r\nleaf 2\r\n--m--\r\nmixed epilogue\r\n--m\r\nnot a part\r\n' +
  '--r--\r\nrelated epilogue\r\n--r\r\nnot a part\r\n' +
  '--b\r\nContent-Type: multipart/mixed; boundary=open\r\n\r\n--open\r\n\r\nnever closed\r\n' +
  '--b--\r\nepilogue\r\n--b\r\nnot a part either\r\n';
