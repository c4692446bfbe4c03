/**
 * Cinder-like volumes and their attachments. Every change rewrites the attachment list as one write
 * conditional on the version read; a lost race is re-read and re-decided. Detached attachments are
 * kept (status "detached", detachedAt) as history.
 */
import { z } from "zod";
import { Volume, type VolumeAttachment } from "../domain/schemas.js";
import { DiskDevice, ResourceName, Uuid } from "../domain/values.js";
import { Expr, parseInput, type StoreDeps, scanAll } from "./dynamo-util.js";
import { VolumeAttachRefused, VolumeNotFound } from "./store-errors.js";
import { RecordStore } from "./table-store.js";

export const AttachRequest = z.object({
  attachmentId: Uuid,
  instanceUuid: Uuid,
  host: ResourceName,
  device: DiskDevice,
});
export type AttachRequest = z.infer<typeof AttachRequest>;

/** The live ("attached") attachment of a volume, the most recent if there are several; null if none. */
export function activeAttachment(volume: Volume): VolumeAttachment | null {
  const live = volume.attachments.filter((a) => a.status === "attached");
  return live[live.length - 1] ?? null;
}

/** A change to a volume: the new attachment list, or null when there is nothing to do. May throw to refuse. */
type Change = (volume: Volume, now: string) => VolumeAttachment[] | null;

export class VolumesStore extends RecordStore<typeof Volume> {
  constructor(deps: StoreDeps) {
    super(deps, "volumes", {
      schema: Volume,
      what: "volume",
      notFound: (id) => new VolumeNotFound(`Volume ${id} could not be found.`, { volumeId: id }),
    });
  }

  /** Every volume (a consistent scan: audits and the invariant checker). */
  async list(): Promise<Volume[]> {
    const items = await scanAll(this.doc, { TableName: this.table, ConsistentRead: true });
    return items.map((i) => this.parse(i));
  }

  activeAttachment(volume: Volume): VolumeAttachment | null {
    return activeAttachment(volume);
  }

  /** Insert a volume. Re-creating an identical record is a no-op; a different one is RecordExists. */
  async create(volume: z.input<typeof Volume>): Promise<Volume> {
    return this.insert(Volume, volume, "volume", "volumeId");
  }

  /** Deletes a volume no instance has attached (VolumeAttachRefused while one has). Absent: a success. */
  async delete(volumeId: string): Promise<void> {
    await this.deleteIf(volumeId, (current) => {
      const live = activeAttachment(current);
      if (live)
        throw new VolumeAttachRefused(`volume ${volumeId} is attached to instance ${live.instanceUuid}`, {
          volumeId,
          attachedTo: live.instanceUuid,
        });
    });
  }

  /**
   * Attach the volume to an instance on a host. Idempotent by attachmentId. Refused
   * (VolumeAttachRefused) while the volume has a live attachment to another instance, is in error,
   * or when the attachment id is already used for something else. `known`: the volume as the caller last
   * read or wrote it (no read then).
   */
  async attach(volumeId: string, request: AttachRequest, known?: Volume): Promise<Volume> {
    const req = parseInput(AttachRequest, request, "attach request");
    return this.changeAttachments(
      volumeId,
      (volume, now) => {
        const same = volume.attachments.find((a) => a.attachmentId === req.attachmentId);
        if (same) {
          const matches =
            same.status === "attached" &&
            same.instanceUuid === req.instanceUuid &&
            same.host === req.host &&
            same.device === req.device;
          if (matches) return null;
          throw new VolumeAttachRefused(
            `attachment ${req.attachmentId} of volume ${volumeId} already exists (${same.status}, instance ${same.instanceUuid} on ${same.host} at ${same.device})`,
            { volumeId, attachmentId: req.attachmentId, existing: same },
          );
        }
        if (volume.status === "error") {
          throw new VolumeAttachRefused(`volume ${volumeId} is in error`, {
            volumeId,
            status: volume.status,
          });
        }
        const other = volume.attachments.find(
          (a) => a.status === "attached" && a.instanceUuid !== req.instanceUuid,
        );
        if (other) {
          throw new VolumeAttachRefused(
            `volume ${volumeId} is attached to instance ${other.instanceUuid} on ${other.host} (attachment ${other.attachmentId})`,
            { volumeId, attachedTo: other.instanceUuid, host: other.host, attachmentId: other.attachmentId },
          );
        }
        return [...volume.attachments, { ...req, status: "attached", attachedAt: now, detachedAt: null }];
      },
      known,
    );
  }

  /** Mark one attachment detached. Idempotent: already detached, or unknown, is a no-op. */
  async detach(volumeId: string, attachmentId: string): Promise<Volume> {
    return this.changeAttachments(volumeId, (volume, now) => {
      const target = volume.attachments.find(
        (a) => a.attachmentId === attachmentId && a.status === "attached",
      );
      if (!target) return null;
      return volume.attachments.map((a) => (a === target ? endAttachment(a, now) : a));
    });
  }

  /**
   * Mark every live attachment of this instance detached, except those on `exceptHost`: evacuation
   * ends the attachments of the dead host, which cannot be asked to detach. Idempotent.
   */
  async endAttachments(
    volumeId: string,
    opts: { instanceUuid: string; exceptHost?: string },
    known?: Volume,
  ): Promise<Volume> {
    const ends = (a: VolumeAttachment): boolean =>
      a.status === "attached" &&
      a.instanceUuid === opts.instanceUuid &&
      (opts.exceptHost === undefined || a.host !== opts.exceptHost);
    return this.changeAttachments(
      volumeId,
      (volume, now) => {
        if (!volume.attachments.some(ends)) return null;
        return volume.attachments.map((a) => (ends(a) ? endAttachment(a, now) : a));
      },
      known,
    );
  }

  private async changeAttachments(volumeId: string, decide: Change, known?: Volume): Promise<Volume> {
    return this.changeRecord(
      volumeId,
      (current) => {
        const attachments = decide(current, this.now().toISOString());
        if (attachments === null) return null;
        const status =
          current.status === "error"
            ? "error"
            : attachments.some((a) => a.status === "attached")
              ? "in-use"
              : "available";
        const next = parseInput(
          Volume,
          { ...current, attachments, status, version: current.version + 1 },
          "volume",
        );
        const x = new Expr();
        return {
          UpdateExpression: `SET ${x.name("attachments")} = ${x.value(next.attachments)}, ${x.name("status")} = ${x.value(next.status)}, ${x.name("version")} = ${x.value(next.version)}`,
          ConditionExpression: `${x.name("version")} = ${x.value(current.version)}`,
          ...x.attributes(),
        };
      },
      undefined,
      known,
    );
  }
}

function endAttachment(a: VolumeAttachment, now: string): VolumeAttachment {
  return { ...a, status: "detached", detachedAt: now };
}
