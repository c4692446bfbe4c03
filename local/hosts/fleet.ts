/**
 * The local cloud's hosts and SSM: one SSM endpoint plus one LocalHost per host spec, all under
 * one run id (Unix group `lz<runid>`, users `lz<runid>-<host>`, folder /tmp/lz-<random>).
 * `local/cloud.ts` composes this with the other local services.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SSMClient } from "@aws-sdk/client-ssm";
import { type SsmEndpoint, type SsmEndpointOptions, startSsmEndpoint } from "../ssm/ssm-endpoint.js";
import { LocalHost, type LocalHostSpec, unixUserName } from "./local-host.js";

export interface FleetOptions {
  hosts: LocalHostSpec[];
  /** Parent folder for this run's folder (default /tmp). Host users must be able to traverse it. */
  rootDir?: string;
  ssm?: SsmEndpointOptions;
  /** Base images per host image cache (default: cirros-0.6 and ubuntu-24.04, 64M blank qcow2). */
  images?: { name: string; virtualSize: string }[];
  /** Start libvirtd + agents (default true); false = users and folders only. */
  start?: boolean;
  /** Each host publishes its heartbeat metric here (a CloudWatch endpoint) every `intervalMs`. */
  heartbeat?: { endpoint: string; intervalMs: number };
}

export interface FleetEnv {
  AWS_ENDPOINT_URL_SSM: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}

export interface Fleet {
  runId: string;
  /** This run's folder (removed on stop). */
  dir: string;
  /** The Unix group every host user of this run belongs to. */
  group: string;
  gid: number;
  ssm: SsmEndpoint;
  hosts: Map<string, LocalHost>;
  /** Environment for processes that talk to this cloud's SSM (and the SDK's region/credentials). */
  env: FleetEnv;
  volumesPath: string;
  /** Shared instances folder per pool id. */
  sharedPools: Map<string, string>;
  /** A real SSMClient pointed at the local endpoint. */
  ssmClient(): SSMClient;
  /** Tear-down: no process, user, group or folder left. Idempotent. */
  stop(): Promise<void>;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---- tear-down on exit / Ctrl-C, for every fleet still running in this process -----------------
interface Live {
  stop(): Promise<void>;
  stopSync(): void;
}
const live = new Set<Live>();
let handlersInstalled = false;
function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const f of [...live]) f.stopSync();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      void Promise.allSettled([...live].map((f) => f.stop())).finally(() => process.exit(130));
    });
  }
}

function groupadd(name: string): number {
  for (let attempt = 0; ; attempt++) {
    const r = spawnSync("groupadd", [name], { encoding: "utf8", env: { PATH } });
    if (r.status === 0) break;
    if (attempt < 20 && /lock/i.test(r.stderr ?? "")) {
      spawnSync("sleep", ["0.2"]);
      continue;
    }
    throw new Error(`groupadd ${name} failed: ${r.stderr?.trim()}`);
  }
  const r = spawnSync("getent", ["group", name], { encoding: "utf8", env: { PATH } });
  return Number((r.stdout ?? "").split(":")[2]);
}

function groupdel(name: string) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = spawnSync("groupdel", [name], { encoding: "utf8", env: { PATH } });
    if (r.status === 0 || !/lock/i.test(r.stderr ?? "")) return;
    spawnSync("sleep", ["0.2"]);
  }
}

/** A short folder name per host: qemu monitor sockets live under it and Unix socket paths are short. */
function hostFolderName(name: string): string {
  if (/^[A-Za-z0-9_-]{1,16}$/.test(name)) return name;
  return createHash("sha1").update(name).digest("hex").slice(0, 12);
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  if (process.getuid?.() !== 0) throw new Error("the local fleet needs root (useradd, per-host users)");
  const names = opts.hosts.map((h) => h.name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate host names: ${names.join(", ")}`);

  const runId = randomBytes(3).toString("hex");
  const group = `lz${runId}`;
  const parent = opts.rootDir ?? "/tmp";
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, "lz-"));
  const gid = groupadd(group);
  const hosts = new Map<string, LocalHost>();
  let ssm: SsmEndpoint | undefined;
  let stopped = false;

  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    live.delete(entry);
    for (const h of hosts.values()) h.destroySync();
    groupdel(group);
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    live.delete(entry);
    const results = await Promise.allSettled([...hosts.values()].map((h) => h.destroy()));
    await ssm?.close();
    groupdel(group);
    rmSync(dir, { recursive: true, force: true });
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0)
      throw new AggregateError(
        failed.map((f) => f.reason),
        "fleet tear-down incomplete",
      );
  };
  const entry: Live = { stop, stopSync };
  live.add(entry);
  installHandlers();

  try {
    // The run's folder: group members may enter; shared folders are setgid + group-writable.
    chownSync(dir, 0, gid);
    chmodSync(dir, 0o750);
    const shared = (p: string) => {
      mkdirSync(p, { recursive: true });
      chownSync(p, 0, gid);
      chmodSync(p, 0o2770);
      return p;
    };
    const volumesPath = shared(join(dir, "volumes"));
    const sharedPools = new Map<string, string>();
    for (const h of opts.hosts) {
      if (h.sharedPoolId && !sharedPools.has(h.sharedPoolId)) {
        sharedPools.set(h.sharedPoolId, shared(join(dir, "shared", hostFolderName(h.sharedPoolId))));
      }
    }
    if (sharedPools.size > 0) chmodSync(join(dir, "shared"), 0o755);

    ssm = await startSsmEndpoint(opts.ssm);
    const endpoint = ssm;
    for (const spec of opts.hosts) {
      const host = await LocalHost.create({
        spec,
        endpoint,
        unixUser: unixUserName(runId, spec.name),
        group,
        gid,
        hostDir: join(dir, `h-${hostFolderName(spec.name)}`),
        sharedInstancesPath: spec.sharedPoolId ? sharedPools.get(spec.sharedPoolId) : undefined,
        volumesPath,
        images: opts.images,
        ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
      });
      hosts.set(spec.name, host);
      endpoint.registerInstance(host.managedInstanceId, spec.name);
    }
    if (opts.start !== false) await Promise.all([...hosts.values()].map((h) => h.start()));

    const env: FleetEnv = {
      AWS_ENDPOINT_URL_SSM: endpoint.url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    };
    return {
      runId,
      dir,
      group,
      gid,
      ssm: endpoint,
      hosts,
      env,
      volumesPath,
      sharedPools,
      ssmClient: () =>
        new SSMClient({
          endpoint: endpoint.url,
          region: env.AWS_REGION,
          credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
        }),
      stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
