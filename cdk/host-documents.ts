/**
 * The host documents of ssm-documents/ as the stack's own SSM Command documents, `<prefix>-<id>`, with the
 * content `renderDocument` gives them (the local cloud creates the same content through the SSM API). A
 * change of content becomes the document's new default version (`UpdateMethod: NewVersion`), so the name,
 * which the roles' policies grant, never changes.
 */
import { CfnDocument } from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import { type HostDocument, hostDocumentName, renderDocument } from "#ssm-documents/document.js";

/** SSM's limit on a document's content (the values sent with a command count towards it too). */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

export class HostDocuments extends Construct {
  /** By document id. */
  readonly byId = new Map<string, CfnDocument>();

  constructor(scope: Construct, id: string, props: { prefix: string; documents: readonly HostDocument[] }) {
    super(scope, id);
    for (const doc of props.documents) {
      const content = renderDocument(doc);
      const size = Buffer.byteLength(JSON.stringify(content));
      if (size > MAX_DOCUMENT_BYTES / 2) {
        // Half the limit: the other half is for the values a command carries (a domain XML, up to 32 KB).
        throw new Error(`host document ${doc.id} is ${size} bytes, more than half of SSM's 64 KB`);
      }
      this.byId.set(
        doc.id,
        new CfnDocument(this, doc.id, {
          name: hostDocumentName(props.prefix, doc.id),
          documentType: "Command",
          documentFormat: "JSON",
          targetType: "/",
          updateMethod: "NewVersion",
          content,
        }),
      );
    }
  }
}
