/**
 * Inventory from the terminal, against a running local cloud (`npm run local -- up` prints the
 * endpoints): it invokes the same Lambda functions the API does, through the cloud's Lambda endpoint.
 *
 *   export AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:PORT     # from `npm run local -- up`
 *   npm run inventory -- register mi-0123456789abcdef0 [--name N] [--az Z] [--shared-pool P]
 *                                 [--instances-path P] [--image-cache-path P] [--volumes-path P]
 *   npm run inventory -- adopt HOST [--no-ha]
 *   npm run inventory -- drift [--apply] [--host H ...]       # report only unless --apply
 *
 * Without the API: `lazarus host register|adopt` and `lazarus drift` do the same through it.
 */

import { parseArgs } from "node:util";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { AdoptHostReport } from "#functions/inventory/adopt.js";
import type { RegisterHostReport } from "#functions/inventory/register.js";
import type { FleetSyncReport } from "#functions/inventory/sync.js";
import { deployedName } from "#shared/definitions/state-machines.js";
import { DEFAULT_PREFIX } from "#shared/store/tables.js";

const USAGE = `usage: npm run inventory -- register MANAGED_INSTANCE_ID [options] | adopt HOST [--no-ha] | drift [--apply] [--host H]`;

function out(line = ""): void {
  process.stdout.write(`${line}\n`);
}

async function invoke<T>(fn: string, payload: unknown): Promise<T> {
  const endpoint = process.env.AWS_ENDPOINT_URL_LAMBDA;
  if (!endpoint)
    throw new Error(
      "AWS_ENDPOINT_URL_LAMBDA is not set: start `npm run local -- up` and export what it prints",
    );
  const local = /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(endpoint);
  const client = new LambdaClient({
    region: process.env.AWS_REGION ?? "us-east-1",
    // The local endpoint checks no signature; real credentials are never needed or sent there.
    ...(local && !process.env.AWS_ACCESS_KEY_ID
      ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {}),
  });
  const prefix = process.env.LAZARUS_TABLE_PREFIX || DEFAULT_PREFIX;
  const res = await client.send(
    new InvokeCommand({
      FunctionName: deployedName(prefix, fn),
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
  const body = JSON.parse(Buffer.from(res.Payload ?? []).toString("utf8") || "null");
  if (res.FunctionError) {
    throw new Error(`${body?.errorType ?? "Error"}: ${body?.errorMessage ?? JSON.stringify(body)}`);
  }
  return body as T;
}

async function register(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      az: { type: "string" },
      "shared-pool": { type: "string" },
      "instances-path": { type: "string" },
      "image-cache-path": { type: "string" },
      "volumes-path": { type: "string" },
    },
  });
  const id = positionals[0];
  if (!id) throw new Error(USAGE);
  const storage = {
    ...(values["instances-path"] ? { instancesPath: values["instances-path"] } : {}),
    ...(values["image-cache-path"] ? { imageCachePath: values["image-cache-path"] } : {}),
    ...(values["volumes-path"] ? { volumesPath: values["volumes-path"] } : {}),
    ...(values["shared-pool"] ? { sharedPoolId: values["shared-pool"] } : {}),
  };
  const r = await invoke<RegisterHostReport>("inventory-register-host", {
    managedInstanceId: id,
    ...(values.name ? { name: values.name } : {}),
    ...(values.az ? { availabilityZone: values.az } : {}),
    ...(Object.keys(storage).length > 0 ? { storage } : {}),
  });
  const h = r.host;
  out(`host ${h.name} (${h.managedInstanceId}): ${r.outcome}`);
  out(
    `  virt type ${h.virtType}; capacity ${h.capacity.vcpus} vCPU, ${h.capacity.memoryMiB} MiB, ${h.capacity.diskGiB} GiB`,
  );
  out(
    `  allocation ratios cpu ${h.allocationRatios.cpu}, ram ${h.allocationRatios.ram}, disk ${h.allocationRatios.disk}`,
  );
  out(`  instances ${h.storage.instancesPath} (pool ${h.storage.sharedPoolId ?? "none: local disk"})`);
  out(
    `  image cache ${h.storage.imageCachePath}; volumes ${h.storage.volumesPath}; zone ${h.availabilityZone}`,
  );
  return 0;
}

async function adopt(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { "no-ha": { type: "boolean" } },
  });
  const host = positionals[0];
  if (!host) throw new Error(USAGE);
  const r = await invoke<AdoptHostReport>("inventory-adopt-host", {
    host,
    haEnabled: values["no-ha"] !== true,
  });
  out(
    `host ${r.host}: ${r.adopted.length} adopted, ${r.alreadyAdopted.length} already adopted, ${r.refused.length} refused`,
  );
  for (const a of r.adopted) {
    out(
      `  adopted  ${a.name} ${a.uuid} ${a.powerState}, ${a.ports} NIC(s), ${a.volumes} volume(s), ${a.onSharedStorage ? "shared" : "local"} disk${a.autostartTurnedOff ? "; libvirt autostart turned OFF" : ""}`,
    );
    for (const n of a.notes) out(`           note: ${n}`);
  }
  for (const a of r.alreadyAdopted)
    out(
      `  known    ${a.name} ${a.uuid}${a.autostartTurnedOff ? "; libvirt autostart turned OFF again" : ""}`,
    );
  for (const x of r.refused) {
    out(`  refused  ${x.name ?? "?"} ${x.uuid}`);
    for (const reason of x.reasons) out(`           - ${reason}`);
  }
  return r.refused.length > 0 ? 3 : 0;
}

async function drift(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { apply: { type: "boolean" }, host: { type: "string", multiple: true } },
  });
  const r = await invoke<FleetSyncReport>("inventory-sync", {
    apply: values.apply === true,
    ...(values.host ? { hosts: values.host } : {}),
  });
  out(
    `fleet at ${r.at}: ${r.drift ? "DRIFT" : "no drift"}${values.apply ? "" : " (report only; --apply records it)"}`,
  );
  for (const h of r.hosts) {
    out(`${h.host}: ${h.status}${h.reason ? ` (${h.reason})` : ""}`);
    for (const p of h.powerDrift)
      out(
        `  power    ${p.name} ${p.instanceUuid}: recorded ${p.recorded}, domain ${p.actual}${p.recordedNow ? " (recorded now)" : ""}`,
      );
    for (const u of h.unknownDomains)
      out(
        `  unknown  domain ${u.uuid} (${u.powerState})${u.recordedHost ? `: a stale copy, the instance lives on ${u.recordedHost}` : ""}`,
      );
    for (const m of h.missingDomains)
      out(`  missing  ${m.name} ${m.instanceUuid}: recorded here, no domain defined`);
    for (const c of h.claimsMade) out(`  claim    made for ${c}`);
    for (const c of h.claimsReleased) out(`  claim    released for ${c} (not placed here)`);
    for (const c of h.claimProblems) out(`  claim    ${c.instanceUuid}: ${c.reason}`);
    if (h.usage)
      out(
        `  usage ${h.usage.vcpus} vCPU / ${h.usage.memoryMiB} MiB / ${h.usage.diskGiB} GiB; placed ${h.placed.vcpus} / ${h.placed.memoryMiB} / ${h.placed.diskGiB}`,
      );
  }
  return r.drift ? 3 : 0;
}

const commands: Record<string, (args: string[]) => Promise<number>> = { register, adopt, drift };
const command = commands[process.argv[2] ?? ""];
if (!command) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}
command(process.argv.slice(3)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
