/**
 * Deploys the stack's host documents (ssm-documents/) on an SSM endpoint through the real SDK, under the
 * names and with the content the CDK stack gives them: the local cloud's equivalent of the stack's
 * AWS::SSM::Document resources.
 */
import { CreateDocumentCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { hostDocumentName, renderDocument } from "#ssm-documents/document.js";
import { HOST_DOCUMENTS } from "#ssm-documents/index.js";

export async function deployHostDocuments(client: SSMClient, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for (const doc of HOST_DOCUMENTS) {
    const name = hostDocumentName(prefix, doc.id);
    await client.send(
      new CreateDocumentCommand({
        Name: name,
        Content: JSON.stringify(renderDocument(doc)),
        DocumentType: "Command",
        DocumentFormat: "JSON",
      }),
    );
    names.push(name);
  }
  return names;
}
