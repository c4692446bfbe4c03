/**
 * A flow's migration record (nova's tombstone of the request, `accepted`), made by its Accept: its id is
 * the request id, so a retried Accept finds it (as it is by then) and makes nothing. One conditional write.
 */
import type { Instance, Migration } from "../domain/schemas.js";
import type { StepDeps } from "./deps.js";

export async function ensureMigrationRecord(
  deps: Pick<StepDeps, "stores" | "now">,
  m: {
    id: string;
    instance: Instance;
    type: Migration["type"];
    /** The destination when known at Accept (requested, or a rebuild's own host); Schedule sets it else. */
    destHost: string | null;
    destNode: string | null;
    executionArn: string;
    /** An evacuation: the proof that admitted it; null: a rebuild or a migration (the source is up). */
    proof?: Migration["proof"];
  },
): Promise<void> {
  const at = deps.now().toISOString();
  await deps.stores.migrations.createIfAbsent({
    id: m.id,
    instanceUuid: m.instance.uuid,
    type: m.type,
    sourceHost: m.instance.host,
    sourceNode: m.instance.node,
    destHost: m.destHost,
    destNode: m.destNode,
    status: "accepted",
    attemptedHosts: [],
    error: null,
    executionArn: m.executionArn,
    proof: m.proof ?? null,
    createdAt: at,
    updatedAt: at,
    version: 0,
  });
}
