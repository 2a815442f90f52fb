// A strict reader of the XML subset the simulator's JUnit reports use (elements, attributes, text,
// the five named entities and character references, an XML declaration): enough for a test to check
// a report's structure. Anything else (a tag left open, a mismatched end tag, a bare '&' or '<', text
// outside the root, an unknown entity) throws, as a CI system's parser would refuse it.

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = /[A-Za-z_][A-Za-z0-9_.:-]*/y;
const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, at: number): string {
  if (/<|&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(raw)) throw new Error(`XML: a bare '<' or '&' near offset ${at}`);
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (_, ref: string) =>
    ref.startsWith('#x') ? String.fromCodePoint(parseInt(ref.slice(2), 16)) : ref.startsWith('#') ? String.fromCodePoint(Number(ref.slice(1))) : ENTITIES[ref]!,
  );
}

export function parseXml(source: string): XmlElement {
  let pos = 0;
  if (source.startsWith('<?xml')) {
    const end = source.indexOf('?>');
    if (end < 0) throw new Error('XML: unterminated declaration');
    pos = end + 2;
  }
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const name = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(source);
    if (m === null) throw new Error(`XML: expected a name at offset ${pos}`);
    pos += m[0].length;
    return m[0];
  };
  const spaces = () => {
    while (/\s/.test(source[pos] ?? '')) pos++;
  };
  while (pos < source.length) {
    const lt = source.indexOf('<', pos);
    const text = source.slice(pos, lt < 0 ? source.length : lt);
    if (stack.length > 0) stack.at(-1)!.text += decode(text, pos);
    else if (text.trim() !== '') throw new Error(`XML: text outside the root element at offset ${pos}`);
    if (lt < 0) break;
    pos = lt + 1;
    if (source[pos] === '/') {
      pos++;
      const closing = name();
      spaces();
      if (source[pos] !== '>') throw new Error(`XML: malformed end tag at offset ${pos}`);
      pos++;
      const open = stack.pop();
      if (open?.name !== closing) throw new Error(`XML: </${closing}> does not close <${open?.name ?? '(nothing)'}>`);
      continue;
    }
    const element: XmlElement = { name: name(), attributes: {}, children: [], text: '' };
    const attributes = element.attributes as Record<string, string>;
    for (;;) {
      spaces();
      if (source.startsWith('/>', pos) || source[pos] === '>') break;
      const key = name();
      spaces();
      if (source[pos] !== '=') throw new Error(`XML: attribute ${key} without a value`);
      pos++;
      spaces();
      const quote = source[pos];
      if (quote !== '"' && quote !== "'") throw new Error(`XML: attribute ${key} not quoted`);
      const end = source.indexOf(quote, pos + 1);
      if (end < 0) throw new Error(`XML: attribute ${key} not closed`);
      if (key in attributes) throw new Error(`XML: attribute ${key} twice`);
      attributes[key] = decode(source.slice(pos + 1, end), pos);
      pos = end + 1;
    }
    const selfClosing = source.startsWith('/>', pos);
    pos += selfClosing ? 2 : 1;
    if (stack.length > 0) stack.at(-1)!.children.push(element);
    else if (root === undefined) root = element;
    else throw new Error('XML: more than one root element');
    if (!selfClosing) stack.push(element);
  }
  if (stack.length > 0) throw new Error(`XML: <${stack.at(-1)!.name}> is never closed`);
  if (root === undefined) throw new Error('XML: no root element');
  return root;
}
