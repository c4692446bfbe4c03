/**
 * The operator's actions: each says, before it is sent, what will happen and which API request carries it;
 * each goes through the same API as the CLI (so it is checked, refused and audited as the API does), and
 * the API's own message is shown when it refuses. A role that may not call an action's route
 * (shared/definitions/api-access.ts) is not offered the action at all.
 */
import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { type ApiAccess, accessOf, allows } from "#shared/definitions/api-access.js";
import { type Api, ApiRefusal } from "./api.js";
import type { HostView, ServerView, WorkAction } from "./model.js";

export interface ConsoleContextValue {
  api: Api;
  role: ApiAccess | null;
  hosts: ReadonlyMap<string, HostView>;
  /** Ask every view to look again now (after an action). */
  nudge(): void;
  /** Open the confirmation of an action. */
  confirm(plan: ActionPlan): void;
}

export const ConsoleContext = createContext<ConsoleContextValue | null>(null);

export function useConsole(): ConsoleContextValue {
  const c = useContext(ConsoleContext);
  if (!c) throw new Error("useConsole outside the console");
  return c;
}

export interface ActionPlan {
  key: string;
  /** The button's words. */
  label: string;
  title: string;
  /** What will happen, in the words an operator decides on. */
  what: string[];
  /** The warning that matters most, shown apart. */
  warning?: string;
  method: "POST" | "PUT";
  /** The route (api-access pattern) and the path it is sent to. */
  pattern: string;
  path: string;
  danger: boolean;
  /** An option the operator may tick before confirming. */
  option?: { label: string };
  /** Sends it; resolves with what the API said it did. */
  perform(api: Api, option: boolean): Promise<string>;
}

function fenceWords(host: HostView | undefined): string {
  const power = host?.fencing.power ?? "its power fence";
  if (power === "ipmi" || power === "redfish") {
    return `its BMC (${power === "ipmi" ? "IPMI" : "Redfish"}), through a fence agent run by a healthy delegate host`;
  }
  if (power === "ec2" || power === "local") return "EC2's StopInstances / StartInstances";
  if (power === "none") return "no power fence (the API will refuse)";
  return power;
}

/** The host's compute service id (a UUID from microversion 2.53): PUT /os-services/{id} takes it. */
async function serviceId(api: Api, host: string): Promise<string> {
  const answer = await api.call<{ services: { id: string; host: string }[] }>(
    "GET",
    `/os-services?host=${encodeURIComponent(host)}`,
  );
  const service = answer.body?.services.find((s) => s.host === host);
  if (!service) throw new ApiRefusal(404, `Compute service of ${host} not found.`);
  return service.id;
}

const q = encodeURIComponent;

export function planFor(action: WorkAction, hosts: ReadonlyMap<string, HostView>): ActionPlan {
  switch (action.kind) {
    case "evacuate-host": {
      const h = action.host;
      return {
        key: `evacuate-host:${h}`,
        label: `Evacuate ${h}`,
        title: `Evacuate host ${h}`,
        what: [
          `Starts the host-evacuation flow for ${h} as an operator's request: it checks that ${h} is dead (heartbeat, probe), disables it, powers it off through ${fenceWords(hosts.get(h))}, then recreates each of its instances on other hosts, highest HA priority first.`,
          `An instance for which nothing proves ${h} is off waits "fencing required": none is started twice.`,
        ],
        method: "POST",
        pattern: "/os-hosts/{host}/evacuate",
        path: `/os-hosts/${q(h)}/evacuate`,
        danger: true,
        perform: async (api) => {
          const a = await api.call<{ execution: { id: string } }>("POST", `/os-hosts/${q(h)}/evacuate`, {
            body: { reason: "operator's request from the console" },
          });
          return `Host evacuation of ${h} started (execution ${a.body?.execution.id ?? "?"}).`;
        },
      };
    }
    case "force-down": {
      const h = action.host;
      return {
        key: `force-down:${h}`,
        label: `State ${h} is powered off`,
        title: `State that ${h} is powered off`,
        what: [
          `You state, as the operator, that ${h} is off: its power is cut, or you have checked it. Lazarus records this as ${h}'s proof of death, kind "operator" (nova's forced_down), with your name.`,
          `Its instances waiting "fencing required" are then started on other hosts, by the running incident or when you evacuate them.`,
        ],
        warning: `If ${h} still runs, its instances would run twice. Confirm only if you know it is off.`,
        method: "PUT",
        pattern: "/os-services/{id}",
        path: `/os-services/<${h}'s service id> {"forced_down": true}`,
        danger: true,
        perform: async (api) => {
          const id = await serviceId(api, h);
          await api.call("PUT", `/os-services/${q(id)}`, { body: { forced_down: true } });
          return `${h} is forced down: recorded as proof of death (operator).`;
        },
      };
    }
    case "power-off":
    case "power-on": {
      const h = action.host;
      const off = action.kind === "power-off";
      return {
        key: `${action.kind}:${h}`,
        label: off ? `Power ${h} off` : `Power ${h} on`,
        title: off ? `Power ${h} off through its fence` : `Power ${h} on through its fence`,
        what: off
          ? [
              `Asks ${h}'s power fence, ${fenceWords(hosts.get(h))}, to power it off, then asks until the BMC says it is off. The action and every answer go to ${h}'s power log.`,
              `The API refuses while ${h} is enabled, and while instances are on it unless you force it.`,
            ]
          : [
              `Asks ${h}'s power fence, ${fenceWords(hosts.get(h))}, to power it on. Nothing starts by itself on ${h}: its domains have autostart off, and host-recovery removes the copies that now run elsewhere.`,
            ],
        method: "POST",
        pattern: "/os-hosts/{host}/power",
        path: `/os-hosts/${q(h)}/power`,
        danger: off,
        ...(off ? { option: { label: `Force: power it off although instances are recorded on ${h}` } } : {}),
        perform: async (api, force) => {
          const a = await api.call<{ power: { id: string } }>("POST", `/os-hosts/${q(h)}/power`, {
            body: { power: { action: off ? "off" : "on", ...(off && force ? { force: true } : {}) } },
          });
          return `${off ? "Power off" : "Power on"} of ${h} handed to its fence (request ${a.body?.power.id ?? "?"}): the outcome appears in its power log.`;
        },
      };
    }
    case "enable-host": {
      const h = action.host;
      return {
        key: `enable:${h}`,
        label: `Enable ${h}`,
        title: `Enable host ${h}`,
        what: [
          `${h} takes instances again: the scheduler may place evacuations and new servers there. Enable it only once it is repaired and clean.`,
        ],
        method: "PUT",
        pattern: "/os-services/{id}",
        path: `/os-services/<${h}'s service id> {"status": "enabled"}`,
        danger: false,
        perform: async (api) => {
          const id = await serviceId(api, h);
          await api.call("PUT", `/os-services/${q(id)}`, { body: { status: "enabled" } });
          return `${h} is enabled.`;
        },
      };
    }
    case "adopt": {
      const h = action.host;
      return {
        key: `adopt:${h}`,
        label: `Adopt ${h}'s domains`,
        title: `Adopt the libvirt domains of ${h}`,
        what: [
          `Reads ${h}'s libvirt domains and records as instances those Lazarus can recreate faithfully (root disk, volumes, NICs checked); each one it cannot is refused with its reasons.`,
          `On ${h} it only turns autostart off for the adopted domains.`,
        ],
        method: "POST",
        pattern: "/os-hosts/{host}/adopt",
        path: `/os-hosts/${q(h)}/adopt`,
        danger: false,
        perform: async (api) => {
          const a = await api.call<{ adopted: { adopted?: unknown[]; refused?: unknown[] } }>(
            "POST",
            `/os-hosts/${q(h)}/adopt`,
            { body: { adopt: {} } },
          );
          const r = a.body?.adopted;
          return `Adoption of ${h}: ${r?.adopted?.length ?? 0} adopted, ${r?.refused?.length ?? 0} refused.`;
        },
      };
    }
    case "evacuate-instance":
    case "rebuild-instance":
      return instancePlan(action.kind, action.server);
  }
}

function instancePlan(kind: "evacuate-instance" | "rebuild-instance", s: ServerView): ActionPlan {
  const host = s["OS-EXT-SRV-ATTR:host"];
  const path = `/servers/${q(s.id)}/action`;
  if (kind === "evacuate-instance") {
    return {
      key: `evacuate:${s.id}`,
      label: `Evacuate ${s.name}`,
      title: `Evacuate instance ${s.name}`,
      what: [
        `Recreates ${s.name} on another host chosen by the scheduler, with its ports and volumes; its disk is reused on shared storage, else recreated from its image.`,
        `Allowed only when ${host} is down and proven dead: otherwise the API refuses and says what would prove it.`,
      ],
      method: "POST",
      pattern: "/servers/{id}/action",
      path,
      danger: true,
      perform: async (api) => {
        const a = await api.call("POST", path, { body: { evacuate: {} } });
        return `Evacuation of ${s.name} accepted (migration ${a.headers.get("x-lazarus-migration-id") ?? "?"}).`;
      },
    };
  }
  return {
    key: `rebuild:${s.id}`,
    label: `Rebuild ${s.name}`,
    title: `Rebuild instance ${s.name} in place`,
    what: [
      `Rebuilds ${s.name} on ${host} from its image ${s.image.id}: the domain is destroyed and its root disk recreated from the image. Volumes stay attached.`,
    ],
    warning: `What was written to ${s.name}'s root disk is lost.`,
    method: "POST",
    pattern: "/servers/{id}/action",
    path,
    danger: true,
    perform: async (api) => {
      const a = await api.call("POST", path, { body: { rebuild: { imageRef: s.image.id } } });
      return `Rebuild of ${s.name} accepted (migration ${a.headers.get("x-lazarus-migration-id") ?? "?"}).`;
    },
  };
}

/** A button that opens the action's confirmation; nothing at all for a role that may not call its route. */
export function ActionButton(props: { action: WorkAction; primary?: boolean }) {
  const c = useConsole();
  const plan = planFor(props.action, c.hosts);
  if (!c.role || !allows(c.role, accessOf(plan.method, plan.pattern))) return null;
  return (
    <button
      type="button"
      class={`action ${props.primary ? "primary" : ""} ${plan.danger ? "danger" : ""}`}
      data-action={plan.key}
      onClick={() => c.confirm(plan)}
    >
      {plan.label}
    </button>
  );
}

type DialogState =
  | { step: "confirm" }
  | { step: "sending" }
  | { step: "done"; message: string }
  | { step: "refused"; message: string };

/** The confirmation: what will happen, the request, then the API's answer. */
export function ConfirmDialog(props: { plan: ActionPlan | null; onClose(): void }) {
  const c = useConsole();
  const ref = useRef<HTMLDialogElement>(null);
  const [state, setState] = useState<DialogState>({ step: "confirm" });
  const [option, setOption] = useState(false);
  const { plan } = props;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (plan && !d.open) {
      setState({ step: "confirm" });
      setOption(false);
      d.showModal();
    }
    if (!plan && d.open) d.close();
  }, [plan]);
  if (!plan) return <dialog ref={ref} aria-labelledby="confirm-title" class="confirm" />;
  const send = async () => {
    setState({ step: "sending" });
    try {
      const message = await plan.perform(c.api, option);
      setState({ step: "done", message });
      c.nudge();
    } catch (e) {
      setState({ step: "refused", message: e instanceof Error ? e.message : String(e) });
    }
  };
  return (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby="confirm-title"
      data-dialog={plan.key}
      onClose={() => props.onClose()}
    >
      <h2 id="confirm-title">{plan.title}</h2>
      <section aria-label="What will happen">
        <h3>What will happen</h3>
        {plan.what.map((p) => (
          <p key={p}>{p}</p>
        ))}
        {plan.warning && (
          <p class="warning">
            <strong>Careful: </strong>
            {plan.warning}
          </p>
        )}
        <p class="request">
          <span class="muted">Request: </span>
          <code>
            {plan.method} {plan.path}
          </code>
        </p>
        {plan.option && state.step === "confirm" && (
          <label class="option">
            <input type="checkbox" checked={option} onChange={(e) => setOption(e.currentTarget.checked)} />{" "}
            {plan.option.label}
          </label>
        )}
      </section>
      {state.step === "done" && (
        <p class="result ok" role="status" data-result="ok">
          {state.message}
        </p>
      )}
      {state.step === "refused" && (
        <p class="result bad" role="alert" data-result="refused">
          <strong>Refused by the API: </strong>
          {state.message}
        </p>
      )}
      <div class="buttons">
        {state.step === "confirm" || state.step === "sending" ? (
          <>
            <button type="button" onClick={() => props.onClose()} autofocus>
              Cancel
            </button>
            <button
              type="button"
              class={plan.danger ? "danger" : "primary"}
              data-confirm={plan.key}
              disabled={state.step === "sending"}
              onClick={() => void send()}
            >
              {state.step === "sending" ? "Sending…" : plan.label}
            </button>
          </>
        ) : (
          <button type="button" onClick={() => props.onClose()} autofocus data-close="">
            Close
          </button>
        )}
      </div>
    </dialog>
  );
}
