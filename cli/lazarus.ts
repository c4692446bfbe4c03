/**
 * `lazarus`: the operator's CLI over the Lazarus API (nova's routes plus Lazarus's own).
 * Lists are tables, long operations show their steps live with a clock, `--json` prints the API's
 * documents for scripts, and the exit code is non-zero when the operation failed.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { AdoptHostReport } from "#functions/inventory/adopt.js";
import { ApiCallError, LazarusClient } from "./client.js";
import { type DriftReport, differences, renderDrift, type SyncReply } from "./drift.js";
import { drainHost, migrate as migrateServer, resizeFollowUp, undrainHost } from "./maintenance.js";
import { hostPowerCommand, POWER_ACTION_NAMES, POWER_HELP, powerLogCommand } from "./power.js";
import { type ExecutionDoc, keyValues, summary, table, watchExecution } from "./render.js";
import { EXIT, exitCodeOf, OUTCOME_NOTES, resolveHost, resolveServer, type Server } from "./resolve.js";

interface Global {
  url: string;
  json: boolean;
  sigv4: boolean | undefined;
  region: string | undefined;
}

class UsageError extends Error {}

const GLOBAL_HELP = `usage: lazarus [--url URL] [--json] [--sigv4|--no-sigv4] [--region R] COMMAND [ARGS]

The API is LAZARUS_API_URL (or --url): the local cloud's (npm run local -- up prints it) or the
deployed API Gateway's, whose requests are SigV4-signed with the standard AWS credential chain.

commands:
  hosts                                   compute hosts: state, service, usage
  host register NAME --managed-instance-id ID [--fencing JSON|@FILE]   register a host (inventory): its alarms, its node's tag; prints the host set-up
  host deregister HOST                    remove a host with no instances: its alarms, its node's tag, its record
  host adopt HOST                         adopt the domains already on a host (inventory)
  host enable|disable|force-down HOST     the host's compute service (disable --reason R; force-down --up undoes)
  host drain HOST [--check] [--reason R]  maintenance: move every instance away (live where possible), then hold it
  host undrain HOST [--return]            back in service; --return brings the drained instances back
  host power HOST status|off|on|cycle     the host's power through its fence (BMC via a delegate, or EC2)
  host fence-test HOST                    would the host's power fence work now (status through a delegate)
  host power-log HOST                     the host's fence, its delegates now, and its power actions
  drift [HOST] [--apply]                  what differs between the hosts' libvirt domains and the table
  host-evacuate HOST [--reason R]         evacuate every instance of a dead host (host-failure flow)
  servers [--host H]                      instances
  show SERVER                             one instance (id or name)
  rebuild SERVER [--image IMG]            rebuild in place (default: the current image)
  evacuate SERVER [--host H] [--shared|--no-shared]   recreate a dead host's instance elsewhere
  clean-target SERVER HOST [--gone]       end a TargetNotClean target: Lazarus cleans HOST, releases its claim
  migrate SERVER [--live] [--host H]      move an instance off its (live) host: live, or cold (then confirm/revert)
  resize-confirm SERVER | resize-revert SERVER   keep or undo a finished cold migration (VERIFY_RESIZE)
  migrations [--instance ID] [--host H] [--status S]   rebuild, evacuation and migration records
  watch EXECUTION                         follow a flow's steps until it ends

Servers are named by id or name, hosts by name or service id; a name that matches several is an error
listing them. Long operations wait and show their steps; --no-wait returns once the flow has started.
Every command takes --help and --json.

exit codes: 0 done, 1 failed (or refused, or the API unreachable), 2 usage error, 3 drift found,
4 host-evacuate: the host is not dead (nothing evacuated), 5 held for an operator (mass failure),
6 an evacuation of that host is already running, 7 evacuate: fencing required (nothing started).`;

const HELP: Record<string, string> = {
  hosts: "usage: lazarus hosts [--json]\nCompute hosts with their service state and usage (used/limit).",
  host: `usage: lazarus host register NAME --managed-instance-id ID [--zone AZ] [--fencing JSON|@FILE] | deregister HOST | adopt HOST | enable HOST | disable HOST [--reason R] | force-down HOST [--up] | power HOST ACTION | fence-test HOST | power-log HOST
       lazarus host drain HOST [--check] [--reason R] [--no-wait] | undrain HOST [--return] [--no-wait]
drain: the host is disabled (never fenced or forced down) and every instance moved away, live where a target
takes it, cold otherwise, by HA priority, a few at once; once empty it is in maintenance (its heartbeat alarm
starts no evacuation: power it off for its repair). A real failure during the drain still evacuates what is
left. --check only says whether it can be drained now and where each instance would go (exit 0 yes, 3 no).
undrain: enabled again; --return brings the instances the drain moved back, where capacity and server
groups allow. Exit 1 when an instance was not moved (the report says why).
--fencing: the host's power fence, as in its settings file, e.g. {"power":"ipmi","bmc":{"address":"10.0.9.11","network":"bmc-a","username":"fence","credentials":{"secretsManager":"lazarus/bmc/kvm-11"}},"bmcNetworks":["bmc-a"]}
(a reference to the BMC password, never the password).

${POWER_HELP}`,
  drift:
    "usage: lazarus drift [HOST] [--apply] [--json]\nCompares the domains libvirt has on HOST (default: every host) with Lazarus's instance table:\npower states that differ, domains unknown to the table, instances whose domain is missing, claims that\ndo not match placement, usage against placed flavors. Report only: nothing is written unless --apply\n(records power states, makes and releases claims; never defines, undefines or starts a domain).\nExit 0 when every host was read and is in sync, 3 when any drift was found, 1 when a host could not be read.",
  "host-evacuate":
    "usage: lazarus host-evacuate HOST [--reason R] [--incident ID] [--no-wait] [--json]\nStarts the host-failure flow for HOST and follows it.",
  servers: "usage: lazarus servers [--host H] [--json]",
  show: "usage: lazarus show SERVER [--json]",
  rebuild:
    "usage: lazarus rebuild SERVER [--image IMG] [--no-wait] [--json]\nRebuilds the instance on its own host from IMG (default: its current image) and follows the flow.",
  evacuate:
    "usage: lazarus evacuate SERVER [--host H] [--shared|--no-shared] [--no-wait] [--json]\nRecreates the instance of a down host on another host (H, or the scheduler's choice) and follows the flow.\nAs nova 2.95, the instance is left STOPPED at the destination for you to check before starting it.",
  "clean-target":
    "usage: lazarus clean-target SERVER HOST [--gone] [--json]\nEnds an unclean target of the instance (its fault says TargetNotClean and names HOST): Lazarus destroys and\nundefines the domain on HOST through its agent (a copy you removed by hand is fine), then releases the claim\nthe failed flow kept there. Refused while HOST does not answer; --gone states that HOST will never run that\ncopy again (reinstalled, disks wiped): the claim is released without asking it, and the action records it.\nThe instance's state is yours to reset afterwards (nova reset-state --active).",
  migrations: "usage: lazarus migrations [--instance ID] [--host H] [--status S] [--json]",
  migrate:
    "usage: lazarus migrate SERVER [--live] [--host H] [--no-wait] [--json]\nMoves the instance off its host, which must be up: --live keeps the guest running (nova's os-migrateLive),\nelse cold (stopped, moved, started; a STOPPED one stays stopped), which waits in VERIFY_RESIZE for\nresize-confirm or resize-revert. The disk must be on a pool the target shares (block migration is not supported).",
  "resize-confirm":
    "usage: lazarus resize-confirm SERVER [--json]\nKeeps a finished cold migration: the source's reserved room is released.",
  "resize-revert":
    "usage: lazarus resize-revert ID [--no-wait] [--json]\nUndoes a finished cold migration: the instance goes back to its source, as it was.",
  watch:
    "usage: lazarus watch EXECUTION [--json]\nFollows a flow (execution id or ARN) until it ends; exits non-zero unless it SUCCEEDED.",
};

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;
interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(args: string[], options: OptionSpec = {}): Parsed {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as Parsed["values"], positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A string option's value (parseArgs typed them as string | boolean). */
const str = (v: string | boolean | undefined): string | undefined => (typeof v === "string" ? v : undefined);

function print(g: Global, doc: unknown, text: () => string): void {
  process.stdout.write(g.json ? `${JSON.stringify(doc, null, 2)}\n` : text());
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0]!;
}

const used = (u: Record<string, number>, l: Record<string, number>, k: string) => `${u[k]}/${l[k]}`;

async function hosts(c: LazarusClient, g: Global): Promise<number> {
  const doc = await c.get<{ hosts: Record<string, unknown>[] }>("/os-hosts");
  print(g, doc, () =>
    table(
      [
        "HOST",
        "STATE",
        "SERVICE",
        "FORCED DOWN",
        "MAINTENANCE",
        "POOL",
        "vCPU",
        "RAM MiB",
        "DISK GiB",
        "INSTANCES",
      ],
      doc.hosts.map((h) => {
        const u = h.usage as Record<string, number>;
        const l = h.limits as Record<string, number>;
        return [
          h.host_name as string,
          h.state as string,
          h.enabled ? "enabled" : `disabled${h.disabled_reason ? ` (${h.disabled_reason})` : ""}`,
          String(h.forced_down),
          (h.maintenance as { state: string } | null)?.state ?? "-",
          (h.shared_pool as string | null) ?? "(local)",
          used(u, l, "vcpus"),
          used(u, l, "memory_mb"),
          used(u, l, "disk_gb"),
          h.instances as number,
        ];
      }),
    ),
  );
  return 0;
}

/** `--fencing JSON` or `--fencing @FILE`: the host's fence settings (the registration validates them). */
function fencingOption(value: string): unknown {
  const text = value.startsWith("@") ? readFileSync(value.slice(1), "utf8") : value;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`--fencing is not JSON: ${(e as Error).message}`);
  }
}

async function serviceOf(c: LazarusClient, host: string): Promise<{ id: string }> {
  const { services } = await c.get<{ services: { id: string; host: string }[] }>(
    `/os-services?host=${encodeURIComponent(host)}`,
  );
  const service = services.find((s) => s.host === host);
  if (!service) throw new ApiCallError(404, `404: Compute host ${host} could not be found.`);
  return service;
}

async function host(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    reason: { type: "string" },
    up: { type: "boolean" },
    "managed-instance-id": { type: "string" },
    zone: { type: "string" },
    check: { type: "boolean" },
    return: { type: "boolean" },
    fencing: { type: "string" },
    force: { type: "boolean" },
    "no-wait": { type: "boolean" },
  });
  if (values.help || !sub) {
    process.stdout.write(`${HELP.host}\n`);
    return values.help ? 0 : 2;
  }
  if (sub === "power") {
    const [name, action, ...more] = positionals;
    if (!name || !action || more.length > 0) throw new UsageError("expected: host power HOST ACTION");
    if (!(POWER_ACTION_NAMES as readonly string[]).includes(action))
      throw new UsageError(`unknown power action ${action}: one of ${POWER_ACTION_NAMES.join(", ")}`);
    return hostPowerCommand(c, g, await resolveHost(c, name), action as (typeof POWER_ACTION_NAMES)[number], {
      force: values.force === true,
      wait: values["no-wait"] !== true,
    });
  }
  const given = one(positionals, "HOST");
  const name = sub === "register" ? given : await resolveHost(c, given);
  if (sub === "drain") {
    return drainHost(c, g, name, {
      reason: str(values.reason) ?? null,
      check: values.check === true,
      wait: !values["no-wait"],
    });
  }
  if (sub === "undrain") {
    return undrainHost(c, g, name, { return: values.return === true, wait: !values["no-wait"] });
  }
  if (sub === "fence-test")
    return hostPowerCommand(c, g, name, "fence-test", { force: false, wait: values["no-wait"] !== true });
  if (sub === "power-log") return powerLogCommand(c, g, name);
  let doc: unknown;
  switch (sub) {
    case "register":
      if (!values["managed-instance-id"]) throw new UsageError("register needs --managed-instance-id");
      doc = (
        await c.call("POST", "/os-hosts", {
          body: {
            host: {
              name,
              managed_instance_id: str(values["managed-instance-id"]),
              ...(values.zone ? { availability_zone: str(values.zone) } : {}),
              ...(values.fencing ? { fencing: fencingOption(str(values.fencing)!) } : {}),
            },
          },
        })
      ).body;
      break;
    case "deregister":
      doc = (await c.call("DELETE", `/os-hosts/${encodeURIComponent(name)}`)).body;
      break;
    case "adopt": {
      const adoptDoc = (
        await c.call("POST", `/os-hosts/${encodeURIComponent(name)}/adopt`, { body: { adopt: {} } })
      ).body as { adopted: AdoptReport };
      print(g, adoptDoc, () => renderAdoption(adoptDoc.adopted));
      return adoptDoc.adopted.refused.length > 0 ? EXIT.failed : EXIT.ok;
    }
    case "enable":
    case "disable":
    case "force-down": {
      const { id } = await serviceOf(c, name);
      const body =
        sub === "force-down"
          ? { forced_down: !values.up }
          : sub === "enable"
            ? { status: "enabled" }
            : { status: "disabled", ...(values.reason ? { disabled_reason: str(values.reason) } : {}) };
      doc = (await c.call("PUT", `/os-services/${id}`, { body })).body;
      break;
    }
    default:
      throw new UsageError(`unknown host command ${sub}`);
  }
  print(g, doc, () => {
    const d = doc as Record<string, unknown>;
    const setup = (
      (d.host as Record<string, unknown> | undefined)?.setup as { commands?: string[] } | undefined
    )?.commands;
    const text = keyValues((d.service ?? d) as Record<string, unknown>);
    // A registration says what to run on the host next.
    return setup ? `${text}\n\nOn the host, as root:\n${setup.join("\n")}` : text;
  });
  return 0;
}

/** functions/inventory/adopt.ts's report, as the API returns it. */
type AdoptReport = AdoptHostReport;

/** One row per domain of the host: adopted now, adopted before, or refused with every reason. */
function renderAdoption(r: AdoptReport): string {
  const rows = [
    ...r.adopted.map((d) => [
      d.name,
      d.uuid,
      "adopted",
      d.powerState,
      `${d.ports} port(s), ${d.volumes} volume(s), ${d.onSharedStorage ? "shared" : "local"} disk${d.autostartTurnedOff ? ", autostart turned off" : ""}`,
      d.notes.join("; ") || null,
    ]),
    ...r.alreadyAdopted.map((d) => [d.name, d.uuid, "already adopted", null, null, null]),
    ...r.refused.map((d) => [d.name, d.uuid, "REFUSED", null, null, d.reasons.join("; ")]),
  ];
  const counts = `${r.adopted.length} adopted, ${r.alreadyAdopted.length} already adopted, ${r.refused.length} refused`;
  return `host ${r.host}: ${counts}\n${rows.length ? table(["NAME", "UUID", "RESULT", "POWER", "WHAT", "NOTES"], rows) : ""}`;
}

async function drift(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { apply: { type: "boolean" } });
  if (values.help) return help("drift");
  if (positionals.length > 1) throw new UsageError("drift takes at most one HOST");
  const names =
    positionals.length === 1
      ? [await resolveHost(c, positionals[0]!)]
      : (await c.get<{ hosts: { host_name: string }[] }>("/os-hosts")).hosts.map((h) => h.host_name);
  const applied = values.apply === true;
  const report: DriftReport = { at: new Date().toISOString(), applied, drift: false, hosts: [] };
  for (const name of names) {
    const { synced } = (
      await c.call("POST", `/os-hosts/${encodeURIComponent(name)}/sync`, {
        body: { sync: { apply: applied } },
      })
    ).body as SyncReply;
    report.at = synced.at;
    report.hosts.push(...synced.hosts);
  }
  report.drift = report.hosts.some((h) => differences(h) > 0);
  print(g, report, () => renderDrift(report));
  if (report.drift) return 3;
  return report.hosts.every((h) => h.status !== "unreachable") ? 0 : 1;
}

async function servers(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { host: { type: "string" } });
  if (values.help) return help("servers");
  if (positionals.length > 0) throw new UsageError("servers takes no arguments");
  const q = values.host ? `?host=${encodeURIComponent(await resolveHost(c, str(values.host)!))}` : "";
  const doc = await c.get<{ servers: Server[] }>(`/servers/detail${q}`);
  print(g, doc, () =>
    table(
      ["ID", "NAME", "STATUS", "TASK", "HOST", "POWER", "IMAGE"],
      doc.servers.map((s) => [
        s.id,
        s.name,
        s.status,
        s["OS-EXT-STS:task_state"] as string | null,
        s["OS-EXT-SRV-ATTR:host"] as string,
        POWER[s["OS-EXT-STS:power_state"] as number] ?? "?",
        (s.image as { id: string }).id,
      ]),
    ),
  );
  return 0;
}

const POWER: Record<number, string> = {
  0: "nostate",
  1: "running",
  3: "paused",
  4: "shutdown",
  6: "crashed",
  7: "suspended",
};

async function getServer(c: LazarusClient, id: string): Promise<Server> {
  return (await c.get<{ server: Server }>(`/servers/${encodeURIComponent(id)}`)).server;
}

function serverFields(s: Server): Record<string, unknown> {
  const fencing = s["lazarus:fencing_required"] as
    | { host: string; message: string | null }
    | null
    | undefined;
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    vm_state: s["OS-EXT-STS:vm_state"],
    task_state: s["OS-EXT-STS:task_state"],
    power_state: POWER[s["OS-EXT-STS:power_state"] as number],
    host: s["OS-EXT-SRV-ATTR:host"],
    host_status: s.host_status,
    image: (s.image as { id: string }).id,
    flavor: s.flavor,
    volumes:
      (s["os-extended-volumes:volumes_attached"] as { id: string }[]).map((v) => v.id).join(", ") || null,
    fault: s.fault ? `${(s.fault as { message: string }).message}` : null,
    // nova shows `fault` only in ERROR; "fencing required" keeps its vm_state and says so here.
    fencing_required: fencing ? (fencing.message ?? `the copy on ${fencing.host} may still run`) : null,
    unclean_targets: ((s["lazarus:unclean_targets"] as string[] | undefined) ?? []).join(", ") || null,
    updated: s.updated,
  };
}

async function show(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) return help("show");
  const s = await resolveServer(c, one(positionals, "SERVER"));
  print(g, { server: s }, () => keyValues(serverFields(s)));
  return 0;
}

/** Follows the flow a request started, then shows where the instance is. Non-zero unless it SUCCEEDED. */
async function follow(
  c: LazarusClient,
  g: Global,
  executionId: string,
  serverId: string | null,
  wait: boolean,
): Promise<number> {
  if (!wait) {
    print(
      g,
      { execution: { id: executionId } },
      () => `started execution ${executionId}\nfollow it: lazarus watch ${executionId}\n`,
    );
    return 0;
  }
  const execution = await watchExecution(c, executionId, { out: g.json ? null : process.stdout });
  const server = serverId ? await getServer(c, serverId) : null;
  const code = exitCodeOf(execution);
  print(
    g,
    { execution, exitCode: code, ...(server ? { server } : {}) },
    () =>
      `${summary(execution)}${OUTCOME_NOTES[code] ? `\n${OUTCOME_NOTES[code]}` : ""}\n${server ? keyValues(serverFields(server)) : ""}`,
  );
  return code;
}

async function rebuild(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { image: { type: "string" }, "no-wait": { type: "boolean" } });
  if (values.help) return help("rebuild");
  const server = await resolveServer(c, one(positionals, "SERVER"));
  const id = server.id;
  const image = str(values.image) ?? (server.image as { id: string }).id;
  const res = await c.call("POST", `/servers/${encodeURIComponent(id)}/action`, {
    body: { rebuild: { imageRef: image } },
  });
  if (!g.json)
    process.stdout.write(
      `rebuild of ${id} from ${image} accepted (migration ${res.headers.get("x-lazarus-migration-id")})\n`,
    );
  return follow(c, g, res.headers.get("x-lazarus-execution-id")!, id, !values["no-wait"]);
}

async function evacuate(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    host: { type: "string" },
    shared: { type: "boolean" },
    "no-shared": { type: "boolean" },
    "no-wait": { type: "boolean" },
  });
  if (values.help) return help("evacuate");
  if (values.shared && values["no-shared"])
    throw new UsageError("--shared and --no-shared exclude each other");
  const id = (await resolveServer(c, one(positionals, "SERVER"))).id;
  const body: Record<string, unknown> = {};
  if (values.host) body.host = await resolveHost(c, str(values.host)!);
  if (values.shared || values["no-shared"]) body.onSharedStorage = values.shared === true;
  const res = await c.call("POST", `/servers/${encodeURIComponent(id)}/action`, { body: { evacuate: body } });
  if (!g.json)
    process.stdout.write(
      `evacuation of ${id} accepted (migration ${res.headers.get("x-lazarus-migration-id")})\n`,
    );
  return follow(c, g, res.headers.get("x-lazarus-execution-id")!, id, !values["no-wait"]);
}

async function cleanTarget(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { gone: { type: "boolean" } });
  if (values.help) return help("clean-target");
  if (positionals.length !== 2) throw new UsageError("clean-target takes SERVER and HOST");
  const id = (await resolveServer(c, positionals[0]!)).id;
  // The host is named as the instance's record names it (it may be deregistered by now: not resolved).
  const body = { host: positionals[1]!, ...(values.gone ? { gone: true } : {}) };
  const doc = (
    await c.call("POST", `/servers/${encodeURIComponent(id)}/action`, {
      body: { "lazarus:cleanTarget": body },
    })
  ).body as { cleanTarget: Record<string, unknown> };
  print(g, doc, () => keyValues(doc.cleanTarget));
  return EXIT.ok;
}

async function hostEvacuate(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    reason: { type: "string" },
    incident: { type: "string" },
    "no-wait": { type: "boolean" },
  });
  if (values.help) return help("host-evacuate");
  const name = await resolveHost(c, one(positionals, "HOST"));
  const body: Record<string, unknown> = {};
  if (values.reason) body.reason = str(values.reason);
  if (values.incident) body.incident_id = str(values.incident);
  const res = await c.call("POST", `/os-hosts/${encodeURIComponent(name)}/evacuate`, { body });
  const id = (res.body as { execution: { id: string } }).execution.id;
  if (!g.json) process.stdout.write(`evacuation of host ${name} started\n`);
  return follow(c, g, id, null, !values["no-wait"]);
}

async function migrations(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    instance: { type: "string" },
    host: { type: "string" },
    status: { type: "string" },
  });
  if (values.help) return help("migrations");
  if (positionals.length > 0) throw new UsageError("migrations takes no arguments");
  const q = new URLSearchParams();
  if (values.instance) q.set("instance_uuid", (await resolveServer(c, str(values.instance)!)).id);
  if (values.host) q.set("host", await resolveHost(c, str(values.host)!));
  if (values.status) q.set("status", str(values.status)!);
  const doc = await c.get<{ migrations: Record<string, unknown>[] }>(
    `/os-migrations${q.size ? `?${q}` : ""}`,
  );
  print(g, doc, () =>
    table(
      ["ID", "INSTANCE", "TYPE", "FROM", "TO", "STATUS", "CREATED", "ERROR"],
      doc.migrations.map((m) => [
        m.id as string,
        m.instance_uuid as string,
        m.migration_type as string,
        m.source_compute as string,
        m.dest_compute as string | null,
        m.status as string,
        m.created_at as string,
        m["lazarus:error"] as string | null,
      ]),
    ),
  );
  return 0;
}

async function migrate(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    live: { type: "boolean" },
    host: { type: "string" },
    "no-wait": { type: "boolean" },
  });
  if (values.help) return help("migrate");
  return migrateServer(c, g, (await resolveServer(c, one(positionals, "SERVER"))).id, {
    live: values.live === true,
    host: str(values.host) ?? null,
    wait: !values["no-wait"],
  });
}

function resizeCommand(action: "confirmResize" | "revertResize", command: string) {
  return async (c: LazarusClient, g: Global, args: string[]): Promise<number> => {
    const { values, positionals } = parse(args, { "no-wait": { type: "boolean" } });
    if (values.help) return help(command);
    return resizeFollowUp(
      c,
      g,
      (await resolveServer(c, one(positionals, "SERVER"))).id,
      action,
      !values["no-wait"],
    );
  };
}

async function watch(c: LazarusClient, g: Global, args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) return help("watch");
  const execution: ExecutionDoc = await watchExecution(c, one(positionals, "EXECUTION"), {
    out: g.json ? null : process.stdout,
  });
  print(g, { execution }, () => `${summary(execution)}\n`);
  return exitCodeOf(execution);
}

function help(command: string): number {
  process.stdout.write(`${HELP[command]}\n`);
  return 0;
}

const COMMANDS: Record<string, (c: LazarusClient, g: Global, args: string[]) => Promise<number>> = {
  hosts: (c, g, args) => {
    const { values } = parse(args);
    return values.help ? Promise.resolve(help("hosts")) : hosts(c, g);
  },
  host,
  drift,
  "host-evacuate": hostEvacuate,
  servers,
  show,
  rebuild,
  evacuate,
  "clean-target": cleanTarget,
  migrate,
  "resize-confirm": resizeCommand("confirmResize", "resize-confirm"),
  "resize-revert": resizeCommand("revertResize", "resize-revert"),
  migrations,
  watch,
};

export async function main(argv: string[]): Promise<number> {
  // Global options come before the command; the command's own after it.
  let at = -1;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--url" || argv[i] === "--region") i++;
    else if (!argv[i]!.startsWith("-")) {
      at = i;
      break;
    }
  }
  const globalArgs = at < 0 ? argv : argv.slice(0, at);
  const [command, ...rest] = at < 0 ? [] : argv.slice(at);
  const { values } = parseArgs({
    args: globalArgs,
    options: {
      url: { type: "string" },
      json: { type: "boolean" },
      sigv4: { type: "boolean" },
      "no-sigv4": { type: "boolean" },
      region: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const jsonAnywhere = rest.includes("--json");
  const args = rest.filter((a) => a !== "--json");
  if (values.help || !command) {
    process.stdout.write(`${GLOBAL_HELP}\n`);
    return values.help ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) throw new UsageError(`unknown command ${command}`);
  const url = values.url ?? process.env.LAZARUS_API_URL;
  const g: Global = {
    url: url ?? "",
    json: values.json === true || jsonAnywhere,
    sigv4: values.sigv4 ? true : values["no-sigv4"] ? false : undefined,
    region: values.region,
  };
  if (!url && !args.includes("--help") && !args.includes("-h")) {
    throw new UsageError("no API URL: set LAZARUS_API_URL or pass --url");
  }
  const client = new LazarusClient({
    url: g.url || "http://127.0.0.1",
    ...(g.sigv4 !== undefined ? { sigv4: g.sigv4 } : {}),
    ...(g.region ? { region: g.region } : {}),
  });
  return run(client, g, args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
    ) {
      process.stderr.write(`lazarus: ${(e as Error).message}\nTry lazarus --help.\n`);
      process.exit(2);
    }
    process.stderr.write(
      `lazarus: ${e instanceof ApiCallError ? e.message : e instanceof Error ? e.message : String(e)}\n`,
    );
    process.exit(EXIT.failed);
  },
);
