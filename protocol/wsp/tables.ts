/**
 * WSP assigned numbers (WAP-230-WSP Appendix A, OMNA registries), one table
 * per spec table, shared by encoder, decoder and the JSON names of the CLI
 * (as Wireshark's value_string tables are). Names are the spec's spelling;
 * look-ups by name are case-insensitive because media types and header
 * names are.
 */
export class CodeTable {
  private readonly byCode = new Map<number, string>();
  private readonly byName = new Map<string, number>();

  /** Later entries with a name already present do not replace the first code. */
  constructor(entries: ReadonlyArray<readonly [number, string]>) {
    for (const [code, name] of entries) {
      this.byCode.set(code, name);
      const key = name.toLowerCase();
      if (!this.byName.has(key)) this.byName.set(key, code);
    }
  }

  name(code: number): string | undefined {
    return this.byCode.get(code);
  }

  code(name: string): number | undefined {
    return this.byName.get(name.toLowerCase());
  }
}

/** WSP-230 Table 40 and OMNA "WSP Content Type Codes". */
export const CONTENT_TYPES = new CodeTable([
  [0x00, '*/*'],
  [0x01, 'text/*'],
  [0x02, 'text/html'],
  [0x03, 'text/plain'],
  [0x04, 'text/x-hdml'],
  [0x05, 'text/x-ttml'],
  [0x06, 'text/x-vCalendar'],
  [0x07, 'text/x-vCard'],
  [0x08, 'text/vnd.wap.wml'],
  [0x09, 'text/vnd.wap.wmlscript'],
  [0x0a, 'text/vnd.wap.wta-event'],
  [0x0b, 'multipart/*'],
  [0x0c, 'multipart/mixed'],
  [0x0d, 'multipart/form-data'],
  [0x0e, 'multipart/byteranges'],
  [0x0f, 'multipart/alternative'],
  [0x10, 'application/*'],
  [0x11, 'application/java-vm'],
  [0x12, 'application/x-www-form-urlencoded'],
  [0x13, 'application/x-hdmlc'],
  [0x14, 'application/vnd.wap.wmlc'],
  [0x15, 'application/vnd.wap.wmlscriptc'],
  [0x16, 'application/vnd.wap.wta-eventc'],
  [0x17, 'application/vnd.wap.uaprof'],
  [0x18, 'application/vnd.wap.wtls-ca-certificate'],
  [0x19, 'application/vnd.wap.wtls-user-certificate'],
  [0x1a, 'application/x-x509-ca-cert'],
  [0x1b, 'application/x-x509-user-cert'],
  [0x1c, 'image/*'],
  [0x1d, 'image/gif'],
  [0x1e, 'image/jpeg'],
  [0x1f, 'image/tiff'],
  [0x20, 'image/png'],
  [0x21, 'image/vnd.wap.wbmp'],
  [0x22, 'application/vnd.wap.multipart.*'],
  [0x23, 'application/vnd.wap.multipart.mixed'],
  [0x24, 'application/vnd.wap.multipart.form-data'],
  [0x25, 'application/vnd.wap.multipart.byteranges'],
  [0x26, 'application/vnd.wap.multipart.alternative'],
  [0x27, 'application/xml'],
  [0x28, 'text/xml'],
  [0x29, 'application/vnd.wap.wbxml'],
  [0x2a, 'application/x-x968-cross-cert'],
  [0x2b, 'application/x-x968-ca-cert'],
  [0x2c, 'application/x-x968-user-cert'],
  [0x2d, 'text/vnd.wap.si'],
  [0x2e, 'application/vnd.wap.sic'],
  [0x2f, 'text/vnd.wap.sl'],
  [0x30, 'application/vnd.wap.slc'],
  [0x31, 'text/vnd.wap.co'],
  [0x32, 'application/vnd.wap.coc'],
  [0x33, 'application/vnd.wap.multipart.related'],
  [0x34, 'application/vnd.wap.sia'],
  [0x35, 'text/vnd.wap.connectivity-xml'],
  [0x36, 'application/vnd.wap.connectivity-wbxml'],
  [0x37, 'application/pkcs7-mime'],
  [0x38, 'application/vnd.wap.hashed-certificate'],
  [0x39, 'application/vnd.wap.signed-certificate'],
  [0x3a, 'application/vnd.wap.cert-response'],
  [0x3b, 'application/xhtml+xml'],
  [0x3c, 'application/wml+xml'],
  [0x3d, 'text/css'],
  [0x3e, 'application/vnd.wap.mms-message'],
  [0x3f, 'application/vnd.wap.rollover-certificate'],
  [0x40, 'application/vnd.wap.locc+wbxml'],
  [0x41, 'application/vnd.wap.loc+xml'],
  [0x42, 'application/vnd.syncml.dm+wbxml'],
  [0x43, 'application/vnd.syncml.dm+xml'],
  [0x44, 'application/vnd.syncml.notification'],
  [0x45, 'application/vnd.wap.xhtml+xml'],
  [0x46, 'application/vnd.wv.csp.cir'],
  [0x47, 'application/vnd.oma.dd+xml'],
  [0x48, 'application/vnd.oma.drm.message'],
  [0x49, 'application/vnd.oma.drm.content'],
  [0x4a, 'application/vnd.oma.drm.rights+xml'],
  [0x4b, 'application/vnd.oma.drm.rights+wbxml'],
  [0x4c, 'application/vnd.wv.csp+xml'],
  [0x4d, 'application/vnd.wv.csp+wbxml'],
  [0x4e, 'application/vnd.syncml.ds.notification'],
  [0x4f, 'audio/*'],
  [0x50, 'video/*'],
  [0x51, 'application/vnd.oma.dd2+xml'],
  [0x52, 'application/mikey'],
]);

/**
 * The highest content-type code the encoder uses. Codes above it are read
 * but written as text: tshark 4.0 (and so, likely, older terminals) does
 * not know audio/* (0x4F) and later registrations.
 */
export const MAX_ENCODED_CONTENT_TYPE = 0x4e;

/** Internet multipart types a WSP body must carry as their WAP forms (spec c.1). */
export const WAP_MULTIPART_FOR: Readonly<Record<string, string>> = {
  'multipart/related': 'application/vnd.wap.multipart.related',
  'multipart/mixed': 'application/vnd.wap.multipart.mixed',
  'multipart/alternative': 'application/vnd.wap.multipart.alternative',
};

/** WSP-230 Table 38: well-known parameters. Codes 0x17–0x1D are the 1.4 Text-value forms. */
export const PARAMETERS = new CodeTable([
  [0x00, 'q'],
  [0x01, 'charset'],
  [0x02, 'level'],
  [0x03, 'type'],
  [0x05, 'name'],
  [0x06, 'filename'],
  [0x07, 'differences'],
  [0x08, 'padding'],
  [0x09, 'type'],
  [0x0a, 'start'],
  [0x0b, 'start-info'],
  [0x0c, 'comment'],
  [0x0d, 'domain'],
  [0x0e, 'max-age'],
  [0x0f, 'path'],
  [0x10, 'secure'],
  [0x11, 'sec'],
  [0x12, 'mac'],
  [0x13, 'creation-date'],
  [0x14, 'modification-date'],
  [0x15, 'read-date'],
  [0x16, 'size'],
  [0x17, 'name'],
  [0x18, 'filename'],
  [0x19, 'start'],
  [0x1a, 'start-info'],
  [0x1b, 'comment'],
  [0x1c, 'domain'],
  [0x1d, 'path'],
]);

/**
 * Parameter names the encoder writes with a code, and the code it uses:
 * the 1.2 forms for multipart/related (type 0x09, start 0x0A, start-info
 * 0x0B) and the 1.1 forms for name/filename, as MMS terminals expect (spec
 * c.2). Every other parameter goes out as Token-text + Text-string.
 */
export const ENCODED_PARAMETERS: Readonly<Record<string, number>> = {
  charset: 0x01,
  type: 0x09,
  start: 0x0a,
  'start-info': 0x0b,
  name: 0x05,
  filename: 0x06,
};

/** IANA MIBenum → charset name, for every charset an MMS is likely to carry. */
export const CHARSETS = new CodeTable([
  [0, '*'],
  [3, 'us-ascii'],
  [4, 'iso-8859-1'],
  [5, 'iso-8859-2'],
  [6, 'iso-8859-3'],
  [7, 'iso-8859-4'],
  [8, 'iso-8859-5'],
  [9, 'iso-8859-6'],
  [10, 'iso-8859-7'],
  [11, 'iso-8859-8'],
  [12, 'iso-8859-9'],
  [17, 'shift_jis'],
  [18, 'euc-jp'],
  [38, 'euc-kr'],
  [39, 'iso-2022-jp'],
  [106, 'utf-8'],
  [109, 'iso-8859-13'],
  [111, 'iso-8859-15'],
  [113, 'gbk'],
  [114, 'gb18030'],
  [1000, 'iso-10646-ucs-2'],
  [1013, 'utf-16be'],
  [1014, 'utf-16le'],
  [1015, 'utf-16'],
  [2025, 'gb2312'],
  [2026, 'big5'],
  [2084, 'koi8-r'],
  [2252, 'windows-1250'],
  [2253, 'windows-1251'],
  [2254, 'windows-1252'],
  [2255, 'windows-1253'],
  [2256, 'windows-1254'],
  [2257, 'windows-1255'],
  [2258, 'windows-1256'],
]);

/** WSP-230 Table 39 (with the 1.3–1.5 additions), header field names. */
export const HEADER_FIELDS = new CodeTable([
  [0x00, 'Accept'],
  [0x01, 'Accept-Charset'],
  [0x02, 'Accept-Encoding'],
  [0x03, 'Accept-Language'],
  [0x04, 'Accept-Ranges'],
  [0x05, 'Age'],
  [0x06, 'Allow'],
  [0x07, 'Authorization'],
  [0x08, 'Cache-Control'],
  [0x09, 'Connection'],
  [0x0a, 'Content-Base'],
  [0x0b, 'Content-Encoding'],
  [0x0c, 'Content-Language'],
  [0x0d, 'Content-Length'],
  [0x0e, 'Content-Location'],
  [0x0f, 'Content-MD5'],
  [0x10, 'Content-Range'],
  [0x11, 'Content-Type'],
  [0x12, 'Date'],
  [0x13, 'ETag'],
  [0x14, 'Expires'],
  [0x15, 'From'],
  [0x16, 'Host'],
  [0x17, 'If-Modified-Since'],
  [0x18, 'If-Match'],
  [0x19, 'If-None-Match'],
  [0x1a, 'If-Range'],
  [0x1b, 'If-Unmodified-Since'],
  [0x1c, 'Location'],
  [0x1d, 'Last-Modified'],
  [0x1e, 'Max-Forwards'],
  [0x1f, 'Pragma'],
  [0x20, 'Proxy-Authenticate'],
  [0x21, 'Proxy-Authorization'],
  [0x22, 'Public'],
  [0x23, 'Range'],
  [0x24, 'Referer'],
  [0x25, 'Retry-After'],
  [0x26, 'Server'],
  [0x27, 'Transfer-Encoding'],
  [0x28, 'Upgrade'],
  [0x29, 'User-Agent'],
  [0x2a, 'Vary'],
  [0x2b, 'Via'],
  [0x2c, 'Warning'],
  [0x2d, 'WWW-Authenticate'],
  [0x2e, 'Content-Disposition'],
  [0x2f, 'X-Wap-Application-Id'],
  [0x30, 'X-Wap-Content-URI'],
  [0x31, 'X-Wap-Initiator-URI'],
  [0x32, 'Accept-Application'],
  [0x33, 'Bearer-Indication'],
  [0x34, 'Push-Flag'],
  [0x35, 'Profile'],
  [0x36, 'Profile-Diff'],
  [0x37, 'Profile-Warning'],
  [0x38, 'Expect'],
  [0x39, 'TE'],
  [0x3a, 'Trailer'],
  [0x3b, 'Accept-Charset'],
  [0x3c, 'Accept-Encoding'],
  [0x3d, 'Cache-Control'],
  [0x3e, 'Content-Range'],
  [0x3f, 'X-Wap-Tod'],
  [0x40, 'Content-ID'],
  [0x41, 'Set-Cookie'],
  [0x42, 'Cookie'],
  [0x43, 'Encoding-Version'],
  [0x44, 'Profile-Warning'],
  [0x45, 'Content-Disposition'],
  [0x46, 'X-WAP-Security'],
  [0x47, 'Cache-Control'],
  [0x48, 'Expect'],
  [0x49, 'X-Wap-Loc-Invocation'],
  [0x4a, 'X-Wap-Loc-Delivery'],
]);

/** OMNA push application ids (X-Wap-Application-Id), spec c.5. */
export const PUSH_APPLICATIONS = new CodeTable([
  [0x00, 'x-wap-application:*'],
  [0x01, 'x-wap-application:push.sia'],
  [0x02, 'x-wap-application:wml.ua'],
  [0x03, 'x-wap-application:wta.ua'],
  [0x04, 'x-wap-application:mms.ua'],
  [0x05, 'x-wap-application:push.syncml'],
  [0x06, 'x-wap-application:loc.ua'],
  [0x07, 'x-wap-application:syncml.dm'],
  [0x08, 'x-wap-application:drm.ua'],
  [0x09, 'x-wap-application:emn.ua'],
  [0x0a, 'x-wap-application:wv.ua'],
]);

/** Content-Disposition tokens (WSP-230 §8.4.2.53). */
export const DISPOSITIONS = new CodeTable([
  [0x00, 'form-data'],
  [0x01, 'attachment'],
  [0x02, 'inline'],
]);
