/**
 * `lazarus host power HOST status|off|on|cycle` and `lazarus host fence-test HOST`: a host's power through
 * its own power fence (its BMC's fence agent on a delegate host, or EC2), as the API runs it: the request
 * is accepted (202, an id), carried out by the host-power function, and its record (outcome, delegate,
 * every answer with its time) appears in the host's power log, which this follows live.
 */
import {
  OPERATOR_POWER_ACTIONS,
  type OperatorPowerAction,
  powerActionSucceeded,
} from "#shared/domain/power-control.js";
import type { PowerRecord } from "#shared/domain/schemas.js";
import type { LazarusClient } from "./client.js";
import { keyValues, table } from "./render.js";

export const POWER_ACTION_NAMES = OPERATOR_POWER_ACTIONS.filter((a) => a !== "fence-test");

export const POWER_HELP = `usage: lazarus host power HOST ${POWER_ACTION_NAMES.join("|")} [--force] [--no-wait] [--json]
       lazarus host fence-test HOST [--no-wait] [--json]
       lazarus host power-log HOST [--json]
Through the host's own power fence: its BMC (ipmi: fence_ipmilan, redfish: fence_redfish) on a delegate
host on the same BMC network, or EC2 (ec2:StopInstances, StartInstances). off and cycle need a disabled
host (lazarus host disable HOST), and --force while instances are on it: they lose power with it, and
host-evacuation recovers them elsewhere. on brings a powered-off (fenced) host back: its libvirtd and
agent start, nothing is autostarted, and host-recovery removes what was evacuated from it.
fence-test asks the BMC for the power status through a delegate: whether the fence would work now.
Every action is recorded in the host's power log (who asked, the delegate, every answer and its time).
Exit 0 when the power controller confirmed what was asked, 1 otherwise.`;

interface PowerDoc {
  power: {
    host: string;
    fence: Record<string, unknown>;
    delegates: { now: string[]; passed_over: { host: string; reason: string }[]; reason: string } | null;
    log: PowerRecord[];
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function renderPowerRecord(r: PowerRecord): string {
  const head = keyValues({
    action: r.action,
    outcome: r.outcome,
    method: r.method,
    delegate: r.delegate,
    requested_by: r.requestedBy,
    started_at: r.startedAt,
    ended_at: r.endedAt,
    detail: r.detail,
  });
  if (r.answers.length === 0) return head;
  return `${head}\n${table(
    ["AT", "DELEGATE", "STEP", "EXIT", "ANSWER"],
    r.answers.map((a) => [a.at, a.delegate ?? "(ec2)", a.step, a.exitCode, a.answer]),
  )}`;
}

/** Follows the host's power log until the record of `id` is there (or `timeoutMs`), with a live clock. */
async function follow(
  c: LazarusClient,
  host: string,
  id: string,
  live: boolean,
  timeoutMs = 15 * 60_000,
): Promise<PowerRecord> {
  const started = Date.now();
  const path = `/os-hosts/${encodeURIComponent(host)}/power`;
  for (;;) {
    const doc = await c.get<PowerDoc>(path);
    const record = doc.power.log.find((r) => r.id === id);
    if (record) {
      if (live) process.stderr.write("\n");
      return record;
    }
    if (Date.now() - started > timeoutMs)
      throw new Error(
        `no answer for power request ${id} within ${timeoutMs / 1000} s (see lazarus host power-log ${host})`,
      );
    if (live)
      process.stderr.write(
        `\r  waiting for the power controller... ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
    await sleep(1000);
  }
}

export async function hostPowerCommand(
  c: LazarusClient,
  out: { json: boolean },
  host: string,
  action: OperatorPowerAction,
  opts: { force: boolean; wait: boolean },
): Promise<number> {
  const path = `/os-hosts/${encodeURIComponent(host)}/${action === "fence-test" ? "fence-test" : "power"}`;
  const body = action === "fence-test" ? {} : { power: { action, ...(opts.force ? { force: true } : {}) } };
  const accepted = (await c.call("POST", path, { body })).body as { power: { id: string; method: string } };
  if (!opts.wait) {
    process.stdout.write(
      out.json
        ? `${JSON.stringify(accepted, null, 2)}\n`
        : `power ${action} of ${host} accepted: ${accepted.power.id}\n`,
    );
    return 0;
  }
  const record = await follow(c, host, accepted.power.id, !out.json);
  const ok = powerActionSucceeded(action, record.outcome);
  if (out.json) process.stdout.write(`${JSON.stringify({ power: record }, null, 2)}\n`);
  else {
    if (action === "fence-test")
      process.stdout.write(
        ok
          ? `the fence of ${host} would work: ${record.delegate ? `delegate ${record.delegate} reached its BMC, ` : ""}which says the power is ${record.outcome}\n\n`
          : `the fence of ${host} would NOT work now: ${record.detail}\n\n`,
      );
    process.stdout.write(renderPowerRecord(record));
  }
  return ok ? 0 : 1;
}

export async function powerLogCommand(
  c: LazarusClient,
  out: { json: boolean },
  host: string,
): Promise<number> {
  const doc = await c.get<PowerDoc>(`/os-hosts/${encodeURIComponent(host)}/power`);
  if (out.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  const { fence, delegates, log } = doc.power;
  process.stdout.write(keyValues({ host, ...fence }));
  if (delegates)
    process.stdout.write(
      `delegates now: ${delegates.now.join(", ") || "none"}${delegates.passed_over.length ? ` (passed over: ${delegates.passed_over.map((p) => `${p.host} ${p.reason}`).join(", ")})` : ""}\n`,
    );
  process.stdout.write(
    `\n${table(
      ["STARTED", "ACTION", "OUTCOME", "METHOD", "DELEGATE", "REQUESTED BY", "DETAIL"],
      log.map((r) => [
        r.startedAt,
        r.action,
        r.outcome,
        r.method,
        r.delegate,
        r.requestedBy,
        r.detail.slice(0, 100),
      ]),
    )}`,
  );
  return 0;
}
