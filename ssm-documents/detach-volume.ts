import { DISK_DEVICE_PATTERN } from "#shared/domain/values.js";
import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";

/**
 * A rebuild's volume detach from the powered-off domain's persistent definition (`--config`: a live detach
 * waits for a guest that may never acknowledge).
 */
export const DETACH_VOLUME: HostDocument<"uuid" | "device"> = {
  id: "detach-volume",
  description: "Lazarus: detach a disk from a domain's persistent definition (virsh detach-disk --config).",
  parameters: {
    uuid: DOMAIN_UUID,
    device: {
      description: "The guest disk device, e.g. vdb.",
      allowedPattern: DISK_DEVICE_PATTERN,
      maxChars: 4,
    },
  },
  script: () => ['virsh detach-disk "$uuid" "$device" --config'],
  executionTimeoutSeconds: 60,
};
