// Reading vega's SVG output back for the chart tests: every text with its absolute position
// (the translate()s of the enclosing groups added up) and the class of the mark holding it.

export interface SvgText {
  mark: string;
  x: number;
  y: number;
  anchor: string;
  size: number;
  rotated: boolean;
  lines: string[];
}
export interface SvgItem {
  mark: string;
  tag: string;
  x: number;
  y: number;
  attrs: Record<string, string>;
}

const unescapeXml = (s: string): string =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

function translate(attrs: string): [number, number] {
  const m = /transform="translate\(([-\d.e]+),([-\d.e]+)\)/.exec(attrs);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function attrsOf(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Walks the SVG: texts (with their tspan lines) and the other drawn elements, at absolute positions. */
export function walk(svg: string): { width: number; height: number; texts: SvgText[]; items: SvgItem[] } {
  const root = attrsOf(/<svg[^>]*>/.exec(svg)![0]);
  const texts: SvgText[] = [],
    items: SvgItem[] = [];
  const stack: { x: number; y: number; mark: string }[] = [{ x: 0, y: 0, mark: '' }];
  const re = /<(\/?)(\w+)([^>]*?)(\/?)>|([^<]+)/g;
  let text: SvgText | null = null;
  for (const m of svg.matchAll(re)) {
    const [, close, tag, attrs = '', self, chars] = m;
    if (chars !== undefined) {
      if (text) {
        if (text.lines.length === 0) text.lines.push('');
        text.lines[text.lines.length - 1] += unescapeXml(chars);
      }
      continue;
    }
    const top = stack[stack.length - 1]!;
    if (close) {
      if (tag === 'g') stack.pop();
      if (tag === 'text') {
        texts.push(text!);
        text = null;
      }
      continue;
    }
    const a = attrsOf(attrs),
      [dx, dy] = translate(attrs);
    if (tag === 'g') {
      const cls = a['class'] ?? '';
      stack.push({ x: top.x + dx, y: top.y + dy, mark: /role-/.test(cls) ? cls : top.mark });
      if (self) stack.pop();
    } else if (tag === 'text') {
      text = {
        mark: top.mark,
        x: top.x + dx,
        y: top.y + dy,
        anchor: a['text-anchor'] ?? 'start',
        size: parseFloat(a['font-size'] ?? '12'),
        rotated: /rotate\(/.test(a['transform'] ?? ''),
        lines: [],
      };
      if (self) {
        texts.push(text);
        text = null;
      }
    } else if (tag === 'tspan' && text) {
      text.lines.push('');
    } else if (tag !== 'svg' && tag !== 'tspan') {
      items.push({ mark: top.mark, tag: tag!, x: top.x + dx, y: top.y + dy, attrs: a });
    }
  }
  return { width: Number(root['width']), height: Number(root['height']), texts, items };
}
