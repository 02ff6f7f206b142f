/**
 * MM7 schema releases (spec digest §a.1). Each release is one XML
 * namespace; a message is answered in the namespace it arrived in.
 */
export const MM7_NAMESPACE_BASE = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/';

export const RELEASES = [
  'REL-5-MM7-1-0',
  'REL-5-MM7-1-1',
  'REL-5-MM7-1-2',
  'REL-5-MM7-1-3',
  'REL-5-MM7-1-4',
  'REL-5-MM7-1-5',
  'REL-6-MM7-1-0',
  'REL-6-MM7-1-1',
  'REL-6-MM7-1-2',
  'REL-6-MM7-1-3',
  'REL-6-MM7-1-4',
] as const;

export type Release = (typeof RELEASES)[number];

export const DEFAULT_RELEASE: Release = 'REL-6-MM7-1-4';

/**
 * The MM7Version our builder writes for a release when the caller gives
 * none. Only 5.3.0 (REL-5-MM7-1-0) and 6.8.0 (REL-6-MM7-1-4) are confirmed
 * by several deployed stacks; the others follow the 23.140 version that
 * introduced the schema and are marked unverified in the spec digest (§j.2).
 * Answers always echo the requester's MM7Version instead.
 */
export const DEFAULT_MM7_VERSION: Record<Release, string> = {
  'REL-5-MM7-1-0': '5.3.0',
  'REL-5-MM7-1-1': '5.3.0',
  'REL-5-MM7-1-2': '5.3.0',
  'REL-5-MM7-1-3': '5.6.0',
  'REL-5-MM7-1-4': '5.8.0',
  'REL-5-MM7-1-5': '5.10.0',
  'REL-6-MM7-1-0': '6.3.0',
  'REL-6-MM7-1-1': '6.5.0',
  'REL-6-MM7-1-2': '6.6.0',
  'REL-6-MM7-1-3': '6.7.0',
  'REL-6-MM7-1-4': '6.8.0',
};

const BY_NAMESPACE = new Map<string, Release>(RELEASES.map((r) => [MM7_NAMESPACE_BASE + r, r]));

export function namespaceOf(release: Release): string {
  return MM7_NAMESPACE_BASE + release;
}

/** The release of a namespace URI, tolerating a trailing slash; undefined when it is not an MM7 namespace we know. */
export function releaseOf(namespace: string): Release | undefined {
  return BY_NAMESPACE.get(namespace.endsWith('/') ? namespace.slice(0, -1) : namespace);
}

/** Rel-6 schemas add the application-addressing family, ContentClass, DRMContent and more. */
export function isRel6(release: Release): boolean {
  return release.startsWith('REL-6');
}

export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
