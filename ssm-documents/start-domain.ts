import type { HostDocument } from "./document.js";
import { DOMAIN_UUID } from "./parameters.js";
import { ensureStarted } from "./snippets.js";

/** Start a domain unless it runs (os-start, an instance recovery's restart). */
export const START_DOMAIN: HostDocument<"uuid"> = {
  id: "start-domain",
  description: "Lazarus: start a domain unless it already runs (resume a paused one).",
  parameters: { uuid: DOMAIN_UUID },
  script: () => ensureStarted("uuid"),
  executionTimeoutSeconds: 60,
};
