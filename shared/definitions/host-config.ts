/**
 * The one host configuration file, `/etc/lazarus/host.json` (like nova.conf on a compute node): what the
 * host agent (`host-agent/`, `lazarus-host`) needs to run, and the settings registration reads from the host
 * (storage folders, pool, zone, fencing). One definition, read by both: the agent validates the whole file
 * at start (a bad value is an error naming its key, and nothing is sent), registration reads the same file
 * through SSM with every key optional (`HostSettingsFile`).
 *
 * Unknown keys are errors everywhere (a misspelt key must not be ignored silently).
 */
import { z } from "zod";
import { HEARTBEAT_INTERVAL_SECONDS } from "../domain/fencing.js";
import { HostFencingFields, HostLiveMigration } from "../domain/schemas.js";
import { AbsolutePath, ResourceName } from "../domain/values.js";
import { heartbeatLogGroupName } from "./heartbeat.js";

/** Where a host keeps its configuration, unless its environment says otherwise (`LAZARUS_HOST_CONFIG`). */
export const HOST_CONFIG_PATH = "/etc/lazarus/host.json";
/** The environment variable naming another configuration file (the local cloud's hosts use it). */
export const HOST_CONFIG_ENV = "LAZARUS_HOST_CONFIG";

/** An http(s) URL with no path, query or credentials: an AWS service endpoint. */
const EndpointUrl = z.url({ protocol: /^https?$/ }).refine((u) => {
  // zod runs this even after the URL check failed: an unparsable value is that check's error alone.
  if (!URL.canParse(u)) return true;
  const url = new URL(u);
  return (
    url.username === "" && url.password === "" && url.search === "" && url.hash === "" && url.pathname === "/"
  );
}, "an endpoint is scheme://host[:port], with no path, credentials, query or fragment");

/** An AWS region name, e.g. eu-west-1 (also the local cloud's us-east-1). */
const Region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region, e.g. eu-west-1");

const Seconds = z.number().positive().max(3600);

/** `a.b.c.d:port`: an IPv4 address of the hosts' own network and a UDP port. */
export const PeerAddress = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, "an IPv4 address and a port, e.g. 10.0.0.11:7405")
  .refine((a) => {
    const [ip, port] = a.split(":") as [string, string];
    return ip.split(".").every((o) => Number(o) <= 255) && Number(port) >= 1 && Number(port) <= 65_535;
  }, "octets up to 255, a port from 1 to 65535");

/**
 * Peers that notice first (host-agent/peers.ts): this host beats to each listed peer over UDP and listens
 * for theirs; a peer it heard and then does not hear for `silentAfterSeconds` is reported to the control
 * plane, which starts that host's failure handling at once instead of after its heartbeat alarm (and still
 * proves its death before anything moves). List the same hosts both ways (A lists B, B lists A).
 */
export const PeerWatchConfig = z
  .strictObject({
    /** Where this host receives its peers' beats (its own address on the hosts' network). */
    listen: PeerAddress,
    /** Seconds between beats sent to each peer. */
    intervalSeconds: z.number().min(0.2).max(60).default(1),
    /** A peer heard before and silent this long is reported (at least two intervals). */
    silentAfterSeconds: z.number().positive().max(600).default(3),
    /** The peers this host watches and beats to: a few hosts of its rack or zone, not the whole fleet. */
    hosts: z
      .array(z.strictObject({ host: ResourceName, address: PeerAddress }))
      .min(1)
      .max(32),
  })
  .superRefine((p, ctx) => {
    if (p.silentAfterSeconds < 2 * p.intervalSeconds)
      ctx.addIssue({
        code: "custom",
        path: ["silentAfterSeconds"],
        message: `at least two intervals (${2 * p.intervalSeconds} s): one lost datagram is no silence`,
      });
    const names = p.hosts.map((h) => h.host);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["hosts"],
        message: `listed twice: ${[...new Set(twice)].join(", ")}`,
      });
  });
export type PeerWatchConfig = z.infer<typeof PeerWatchConfig>;
export type PeerWatchConfigInput = z.input<typeof PeerWatchConfig>;

export const HostConfig = z.strictObject({
  /** This host's compute name (ResourceName), as registered: the heartbeat's `Host` dimension. */
  host: ResourceName,
  /** The region of the Lazarus deployment (CloudWatch, CloudWatch Logs, EventBridge). */
  region: Region,
  /** Deployment prefix (alarm names `<prefix>-heartbeat-<host>`), default "lazarus". */
  prefix: ResourceName.default("lazarus"),
  /**
   * Service endpoints when not AWS's public ones for the region (VPC endpoints; the local cloud). Each
   * request is SigV4-signed either way.
   */
  endpoints: z
    .strictObject({ logs: EndpointUrl, cloudwatch: EndpointUrl, events: EndpointUrl })
    .partial()
    .default({}),
  /**
   * Where the host's AWS credentials come from. Default: the AWS SDK's chain (environment, then the shared
   * credentials file's `default` profile, then EC2 instance metadata). On an SSM hybrid node the SSM agent
   * writes the role's rotating credentials to a shared credentials file: name it here (it is re-read, so a
   * rotation is picked up).
   */
  credentials: z
    .strictObject({ file: AbsolutePath.optional(), profile: z.string().min(1).max(64).optional() })
    .default({}),
  heartbeat: z
    .strictObject({
      /** The log group of the embedded-metric-format heartbeat (created by the stack; default: prefix lazarus's). */
      logGroup: z
        .string()
        .regex(/^[\w./#-]{1,512}$/, "a CloudWatch Logs group name")
        .default(heartbeatLogGroupName()),
      /**
       * Seconds between heartbeats (at least two per alarm period). A host beating less often than the control
       * plane's LAZARUS_HEARTBEAT_INTERVAL_SECONDS (the same default) makes the mass-failure guard's fleet
       * series overcount the hosts beating (docs/ARCHITECTURE.md, "Proof of death").
       */
      intervalSeconds: Seconds.default(HEARTBEAT_INTERVAL_SECONDS),
      /**
       * The watchdog is fed after an accepted heartbeat only if that acceptance came within this many seconds
       * of the heartbeat's own timestamp; later, it is not fed. Keep it below the control plane's lease margin
       * (LAZARUS_LEASE_MARGIN_SECONDS) minus the clock skew allowed.
       */
      feedWithinSeconds: Seconds.default(2),
    })
    .prefault({}),
  /**
   * The watchdog device the agent feeds (kernel semantics: opened = armed, unfed for its timeout = node
   * reset, magic close 'V' = disarmed), and its sysfs folder, from which the heartbeat's value is read.
   * null: no watchdog (every heartbeat says 0: the control plane never counts a lease for this host).
   */
  watchdog: z
    .strictObject({
      device: AbsolutePath.default("/dev/watchdog"),
      /** Default: /sys/class/watchdog/watchdogN for /dev/watchdogN (/dev/watchdog is watchdog0). */
      sysfs: AbsolutePath.optional(),
    })
    .nullable()
    .default(null),
  /** The guest lifecycle monitor (`lazarus-host monitor`). */
  monitor: z
    .strictObject({
      libvirtUri: z
        .string()
        .regex(/^qemu(\+unix)?:\/\/\/(system|session)$/, "qemu:///system or qemu:///session")
        .default("qemu:///system"),
      /** The EventBridge bus the "Lazarus Domain Stopped" reports go to. */
      eventBus: z
        .string()
        .regex(/^[\w.\-/:]{1,1600}$/, "an event bus name or ARN")
        .default("default"),
      /** Seconds between the monitor's own liveness beats. */
      intervalSeconds: Seconds.default(5),
    })
    .prefault({}),
  /** Peers that notice first (none: this host watches no peer, and only its alarm reports its death). */
  peers: PeerWatchConfig.nullable().default(null),
  /** Where the agent's processes leave their state for `lazarus-host status`. */
  stateDir: AbsolutePath.default("/run/lazarus-host"),
  /**
   * Where the agent keeps what must outlive a reboot: the last boot the guest monitor saw (a new one means the
   * host was reset, and every domain found shut off is reported: `host-reset`). systemd's StateDirectory.
   */
  persistentStateDir: AbsolutePath.default("/var/lib/lazarus-host"),
  /** Where the kernel says which boot this is, and since when (the local cloud's machines give their own). */
  boot: z
    .strictObject({
      /** A new random id at every boot. */
      idFile: AbsolutePath.default("/proc/sys/kernel/random/boot_id"),
      /** Its `btime` line: the boot's time, seconds since the epoch. */
      statFile: AbsolutePath.default("/proc/stat"),
    })
    .prefault({}),

  // What registration reads (every one optional; a registration request overrides any of them).
  availabilityZone: ResourceName.optional(),
  sharedPoolId: ResourceName.nullable().optional(),
  instancesPath: AbsolutePath.optional(),
  imageCachePath: AbsolutePath.optional(),
  volumesPath: AbsolutePath.optional(),
  supportsRecreate: z.boolean().optional(),
  /** How this host's death can be proven (power fence, watchdog, disk locks); unset fields: none/false. */
  fencing: HostFencingFields.partial().optional(),
  /** How other hosts live-migrate a guest here (libvirt URI, inbound address); unset: cold migrations only. */
  liveMigration: HostLiveMigration.optional(),
});
export type HostConfig = z.infer<typeof HostConfig>;
export type HostConfigInput = z.input<typeof HostConfig>;

/** The same file as registration reads it: every key optional, unknown keys still refused. */
export const HostSettingsFile = HostConfig.partial();
export type HostSettingsFile = z.infer<typeof HostSettingsFile>;

/** What the schema cannot see alone: a host that lists itself among its peers. */
export function hostConfigIssues(config: HostConfig): string[] {
  const self = config.peers?.hosts.findIndex((p) => p.host === config.host) ?? -1;
  return self >= 0 ? [`peers.hosts.${self}.host: ${config.host} is this host`] : [];
}

/** The sysfs folder of a watchdog device: /dev/watchdogN -> watchdogN, /dev/watchdog -> watchdog0. */
export function watchdogSysfsDir(watchdog: { device: string; sysfs?: string | undefined }): string {
  if (watchdog.sysfs) return watchdog.sysfs;
  const n = /^\/dev\/watchdog(\d+)$/.exec(watchdog.device)?.[1] ?? "0";
  return `/sys/class/watchdog/watchdog${n}`;
}

/** Each problem of a configuration as `key.path: message`, in the order zod found them. */
export function configIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const key = i.path.length > 0 ? i.path.join(".") : "(file)";
    if (i.code === "unrecognized_keys") {
      const at = i.path.length > 0 ? `${i.path.join(".")}.` : "";
      return i.keys.map((k) => `${at}${k}: unknown key`).join("; ");
    }
    if (i.code === "invalid_type" && i.input === undefined) return `${key}: required`;
    return `${key}: ${i.message}`;
  });
}
