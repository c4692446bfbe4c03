import type { HostDocument } from "./document.js";

/** The liveness probe of the host-failure flow: a host whose agent runs this is alive, whatever it answers. */
export const PROBE_LIVENESS: HostDocument<never> = {
  id: "probe-liveness",
  description:
    "Lazarus: answer that this host's agent runs commands (the host-failure flow's liveness probe).",
  parameters: {},
  script: () => ["echo alive"],
  executionTimeoutSeconds: 10,
};
