import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { XMLValidator } from 'fast-xml-parser';
import { Mm7Error, parseXml, type XmlElement } from '../../../protocol/mm7/xml.js';
import { REPO_ROOT } from '../../helpers/fixtures.js';

/** The reason parseXml gives for refusing `xml` ('' when it accepts it). */
function refusal(xml: string, limits?: { maxDepth?: number }): string {
  try {
    parseXml(xml, limits);
    return '';
  } catch (e) {
    if (!(e instanceof Mm7Error)) throw e;
    if (e.status !== 2007) throw new Error(`status ${e.status}, expected 2007`);
    return e.detail;
  }
}

const shape = (el: XmlElement): unknown => ({ ...el, children: el.children.map(shape) });

t.test('namespaces resolve through scopes, whatever the prefixes', async (t) => {
  const root = parseXml(
    '<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope xmlns:s="urn:soap" xmlns="urn:dflt" a="1">' +
      '<s:Body><Req xml:lang="en" s:mustUnderstand="1"><Inner xmlns="urn:other"><Leaf/></Inner><Next/></Req></s:Body></s:Envelope>',
  );
  t.same(shape(root), {
    ns: 'urn:soap',
    local: 'Envelope',
    attrs: [{ ns: '', local: 'a', value: '1' }],
    text: '',
    children: [
      {
        ns: 'urn:soap',
        local: 'Body',
        attrs: [],
        text: '',
        children: [
          {
            ns: 'urn:dflt',
            local: 'Req',
            attrs: [
              { ns: 'http://www.w3.org/XML/1998/namespace', local: 'lang', value: 'en' },
              { ns: 'urn:soap', local: 'mustUnderstand', value: '1' },
            ],
            text: '',
            children: [
              { ns: 'urn:other', local: 'Inner', attrs: [], text: '', children: [{ ns: 'urn:other', local: 'Leaf', attrs: [], text: '', children: [] }] },
              { ns: 'urn:dflt', local: 'Next', attrs: [], text: '', children: [] },
            ],
          },
        ],
      },
    ],
  });
  const redeclared = parseXml('<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c/></p:b><p:d/></p:a>');
  t.same(
    [redeclared.ns, redeclared.children[0]?.ns, redeclared.children[0]?.children[0]?.ns, redeclared.children[1]?.ns],
    ['urn:1', 'urn:2', 'urn:2', 'urn:1'],
    'a redeclared prefix holds inside its element only',
  );
  t.match(refusal('<p:a xmlns:q="urn:q"/>'), /undeclared namespace prefix "p"/);
  t.match(refusal('<a q:x="1"/>'), /undeclared namespace prefix "q" on attribute q:x/);
});

t.test('character data: trimmed around elements, references decoded once, CDATA verbatim', async (t) => {
  const root = parseXml('<a>\n  Fish &amp;amp; chips &#8211; &#x41;&lt;&gt;&quot;&apos; <!-- note -->too\n  <b/> <![CDATA[ <x>&amp; ]]> </a>');
  t.equal(root.text, 'Fish &amp; chips \u2013 A<>"\' too <x>&amp; ');
  t.equal(parseXml('<a x="one\ttwo\r\nthree &#10;four"/>').attrs[0]?.value, 'one two three \nfour', 'attribute values normalised, references after');
  t.equal(parseXml("<a x='say \"hi\"'/>").attrs[0]?.value, 'say "hi"', 'single-quoted attribute');
  t.equal(parseXml('\uFEFF<a>x</a>').text, 'x', 'a byte order mark is skipped');
  t.equal(parseXml('<a>\u{1F600}</a>').text, '\u{1F600}', 'astral characters');
  t.equal(parseXml('<\u00E9l\u00E8ve/>').local, '\u00E9l\u00E8ve', 'non-ASCII names');
});

t.test('what is not well-formed is refused with 2007 and says where', async (t) => {
  const cases: Array<[xml: string, reason: RegExp]> = [
    ['<a><b></a></b>', /<\/a> does not close <b>/],
    ['<a></ab>', /<\/ab> does not close <a>/],
    ['<a x="1" x="2"/>', /attribute x given twice/],
    [`<a${Array.from({ length: 20 }, (_, i) => ` x${i}="${i}"`).join('')} x3="again"/>`, /attribute x3 given twice/],
    ['<a x=1/>', /malformed start tag <a>/],
    ['<a x="<"/>', /malformed start tag <a>/],
    ['<a x="1"y="2"/>', /malformed start tag <a>/],
    ['<a/><b/>', /second root element/],
    ['<a/>text', /text after the root element/],
    ['text<a/>', /text before the root element/],
    ['<a>]]></a>', /"]]>" in character data/],
    ['<a><!-- a -- b --></a>', /"--" inside a comment/],
    ['<a>&unknown;</a>', /undefined entity/],
    ['<a>AT&T</a>', /unterminated reference/],
    ['<a>\u0001</a>', /character U\+0001 \(line 1, column 4\)/],
    ['<a>\n\n <1/></a>', /expected a name \(line 3, column 3\)/],
    ['<a><!ELEMENT a ANY></a>', /markup declaration/],
    ['<!DOCTYPE a><a/>', /DTDs and entity declarations are not allowed/],
    ['</a>', /end tag without its start tag/],
    ['', /found none/],
    ['  <!-- only a comment -->  ', /found none/],
  ];
  for (const [xml, reason] of cases) t.match(refusal(xml), reason, JSON.stringify(xml));
  t.equal(refusal(`${'<a>'.repeat(8)}${'</a>'.repeat(8)}`, { maxDepth: 8 }), '', 'depth 8 is within a limit of 8');
  t.match(refusal(`${'<a>'.repeat(9)}${'</a>'.repeat(9)}`, { maxDepth: 8 }), /nested deeper than 8/);
});

t.test('every cut of a fixture envelope is refused, never read as a shorter document', async (t) => {
  const dir = join(REPO_ROOT, 'fixtures/mm7/soap');
  const files = readdirSync(dir).filter((f) => f.endsWith('.xml'));
  t.ok(files.length >= 5, `${files.length} SOAP fixtures`);
  for (const file of files) {
    const xml = readFileSync(join(dir, file), 'utf8').trimEnd();
    t.equal(refusal(xml), '', `${file} parses`);
    let accepted = 0;
    for (let cut = 1; cut < xml.length; cut++) if (refusal(xml.slice(0, cut)) === '') accepted++;
    t.equal(accepted, 0, `${file}: none of its ${xml.length - 1} proper prefixes parses`);
  }
});

t.test('agrees with fast-xml-parser\'s validator on single-character corruptions of a fixture', async (t) => {
  // An independent well-formedness check: delete or double each character of an envelope
  // and both must agree on whether the result is XML. Namespace errors are ours alone
  // (the validator does not resolve prefixes), so those cases are left out.
  const xml = readFileSync(join(REPO_ROOT, 'fixtures/mm7/soap', readdirSync(join(REPO_ROOT, 'fixtures/mm7/soap')).find((f) => f.endsWith('.xml'))!), 'utf8').trimEnd();
  let compared = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < xml.length; i++) {
    for (const variant of [xml.slice(0, i) + xml.slice(i + 1), xml.slice(0, i + 1) + xml.slice(i)]) {
      const ours = refusal(variant);
      if (/namespace prefix/.test(ours)) continue;
      const theirs = XMLValidator.validate(variant) === true;
      compared++;
      if ((ours === '') !== theirs) disagreements.push(`${i}: ours ${ours || 'accepts'}, validator ${theirs ? 'accepts' : 'refuses'}`);
    }
  }
  t.ok(compared > 1000, `${compared} variants compared`);
  t.same(disagreements, [], 'no disagreement');
});
