/**
 * A host command: one of the stack's host documents (ssm-documents/) and the values of its parameters. The
 * builders of this folder make them; the executor sends them (SSM SendCommand of `<prefix>-<document>`).
 * Every value is checked here against the document's own pattern before anything is sent, so a bad value is
 * InvalidInput naming the parameter, as SSM would refuse it (InvalidParameters) if it got there.
 */
import type { DocumentParameter, HostDocument } from "#ssm-documents/document.js";
import { InvalidInput } from "../domain/errors.js";
import { describeValue } from "./validate.js";

export interface HostCommand {
  /** The document's id (deployed as `<prefix>-<id>`). */
  document: string;
  /** Parameter values (each a String in SSM). */
  parameters: Readonly<Record<string, string>>;
}

/** The command running `doc` with these values; InvalidInput names any value its pattern refuses. */
export function hostCommand<P extends string>(
  doc: HostDocument<P>,
  values: { readonly [K in P]?: string },
): HostCommand {
  const parameters: Record<string, string> = {};
  const specs = doc.parameters as Record<string, DocumentParameter>;
  for (const [name, spec] of Object.entries(specs)) {
    const value = (values as Record<string, string | undefined>)[name];
    if (value === undefined) {
      if (spec.default === undefined) {
        throw new InvalidInput(`${doc.id}: parameter ${name} is required`, { document: doc.id, field: name });
      }
      continue;
    }
    if (
      typeof value !== "string" ||
      value.length > spec.maxChars ||
      !new RegExp(spec.allowedPattern).test(value)
    ) {
      throw new InvalidInput(`invalid ${doc.id}.${name}: ${spec.description} (got ${describeValue(value)})`, {
        document: doc.id,
        field: name,
        value: describeValue(value),
      });
    }
    parameters[name] = value;
  }
  for (const name of Object.keys(values)) {
    if (!(name in specs)) {
      throw new InvalidInput(`${doc.id} has no parameter ${name}`, { document: doc.id, field: name });
    }
  }
  return { document: doc.id, parameters };
}
