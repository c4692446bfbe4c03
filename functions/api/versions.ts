/**
 * The version documents at `/` and `/v2.1`: what keystoneauth's discovery (openstackclient, novaclient)
 * reads before anything else to learn the endpoint and its microversion range.
 */
import { format, MAX_VERSION, MIN_VERSION } from "./microversion.js";

const UPDATED = "2026-08-01T00:00:00Z";

function v21(baseUrl: string) {
  return {
    id: "v2.1",
    status: "CURRENT",
    version: format(MAX_VERSION),
    min_version: format(MIN_VERSION),
    updated: UPDATED,
    links: [{ rel: "self", href: `${baseUrl}/v2.1/` }],
  };
}

export function versionsDocument(baseUrl: string) {
  return { versions: [v21(baseUrl)] };
}

export function versionDocument(baseUrl: string) {
  return {
    version: {
      ...v21(baseUrl),
      "media-types": [
        { base: "application/json", type: "application/vnd.openstack.compute+json;version=2.1" },
      ],
    },
  };
}
