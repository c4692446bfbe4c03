/**
 * A small, strict XML reader for what libvirt prints (domain XML, capabilities): the document as a tree
 * of elements in document order, attributes as strings, text trimmed. fast-xml-parser does the parsing;
 * this keeps its output shape out of the rest of the code. A DOCTYPE is refused (libvirt never emits
 * one, and it is the door to entity expansion).
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { InvalidInput } from "../domain/errors.js";

export interface XmlElement {
  name: string;
  attrs: Readonly<Record<string, string>>;
  children: readonly XmlElement[];
  /** Concatenated direct text content, trimmed ("" if none). */
  text: string;
}

const ATTRS = ":@";
const TEXT = "#text";
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
});

type Ordered = Record<string, unknown>;

function toElement(node: Ordered): XmlElement | null {
  const name = Object.keys(node).find((k) => k !== ATTRS);
  if (name === undefined || name === TEXT) return null;
  const rawAttrs = (node[ATTRS] ?? {}) as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawAttrs)) attrs[k] = String(v);
  const children: XmlElement[] = [];
  const texts: string[] = [];
  for (const child of (node[name] ?? []) as Ordered[]) {
    if (TEXT in child) texts.push(String(child[TEXT]));
    else {
      const el = toElement(child);
      if (el) children.push(el);
    }
  }
  return { name, attrs, children, text: texts.join("").trim() };
}

/** Parses `xml` and returns its root element. Throws InvalidInput on anything that is not well-formed XML. */
export function parseXml(xml: string, what = "XML"): XmlElement {
  if (/<!DOCTYPE/i.test(xml)) throw new InvalidInput(`${what}: a DOCTYPE is not accepted`);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new InvalidInput(`${what} is not well-formed: ${valid.err.msg} (line ${valid.err.line})`, {
      code: valid.err.code,
      line: valid.err.line,
    });
  }
  const roots = (parser.parse(xml) as Ordered[]).map(toElement).filter((e): e is XmlElement => e !== null);
  if (roots.length !== 1) throw new InvalidInput(`${what}: expected one root element, got ${roots.length}`);
  return roots[0]!;
}

/** Direct children named `name`. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The first direct child named `name`, or undefined. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Follows a path of child names; undefined if any step is missing. */
export function descend(el: XmlElement, ...names: string[]): XmlElement | undefined {
  let cur: XmlElement | undefined = el;
  for (const n of names) cur = cur ? child(cur, n) : undefined;
  return cur;
}
