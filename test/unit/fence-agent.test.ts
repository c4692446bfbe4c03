/**
 * The delegate's fence document (ssm-documents/fence-through-delegate.ts, built by shared/hosts/fence-agent.ts),
 * run as SSM and a delegate's agent run it (test/support/document-runner.ts), and its report read back (shared/domain/power-control.ts). At the process boundary: the AWS CLI (the credential
 * read) and, for Redfish (no simulator is packaged for Debian 12), `fence_redfish` are stand-ins on PATH
 * that record what they were given; for IPMI the real `fence_ipmilan` runs, and a stand-in `ipmitool`
 * behind the script's wrapper records what reached it. What must hold: every option on standard input and
 * none on a command line; the password only on stdin (Redfish) or in IPMI_PASSWORD (ipmitool -E), never
 * in an argument, never in the output; no agent run without the password or after the deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidInput } from "#shared/domain/errors.js";
import { delegateOutcome, parseFenceReport } from "#shared/domain/power-control.js";
import { type FenceAgentRequest, fenceThroughDelegate } from "#shared/hosts/fence-agent.js";
import { resolveHostCommand } from "../support/document-runner.js";
import { type FenceStubs, makeFenceStubs, STUB_SECRET as SECRET } from "../support/fence-stubs.js";

let stubs: FenceStubs;

beforeAll(() => {
  stubs = makeFenceStubs();
});

afterAll(() => {
  stubs.remove();
});

function request(over: Partial<FenceAgentRequest> = {}): FenceAgentRequest {
  return {
    agent: "fence_redfish",
    action: "status",
    address: "bmc-7.oob.example.net",
    port: 443,
    username: "fence",
    lanplus: true,
    cipher: 3,
    verifyTls: true,
    systemsUri: null,
    credentials: { secretsManager: "lazarus/bmc/ok" },
    region: "eu-west-1",
    deadlineSeconds: 10,
    notAfter: Math.floor(Date.now() / 1000) + 60,
    ...over,
  };
}

/** Runs the script as a delegate would (bash, the agent's environment), from a fresh power state. */
function run(req: FenceAgentRequest, power: "on" | "off" = "on") {
  const r = stubs.run(fenceThroughDelegate(req), power);
  return {
    ...r,
    report: parseFenceReport(r.stdout, "host-2"),
    redfishStdin: stubs.read("redfish.stdin"),
    redfishArgc: stubs.read("redfish.argc").trim(),
    ipmitoolArgs: stubs.read("ipmitool.args"),
    ipmitoolEnv: stubs.read("ipmitool.env"),
    awsArgs: stubs.read("aws.args"),
  };
}

describe("fence_redfish through the script (option level: no Redfish BMC to run against)", () => {
  it("off: every option on standard input, the password only there, none as an argument; confirmed by status", () => {
    const r = run(request({ action: "off", verifyTls: false, systemsUri: "/redfish/v1/Systems/1" }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.redfishArgc).toBe("0");
    // The first call's input (the status calls after it follow, one line block each).
    const off = r.redfishStdin.split("\n").slice(0, 8);
    expect(off).toEqual([
      "ip=bmc-7.oob.example.net",
      "ipport=443",
      "username=fence",
      "power_timeout=3",
      "ssl_insecure=1",
      "systems_uri=/redfish/v1/Systems/1",
      "action=off",
      `password=${SECRET}`,
    ]);
    expect(r.report.result).toMatchObject({ result: "off" });
    expect(r.report.answers.map((a) => [a.step, a.exitCode, a.answer])).toEqual([
      ["off", 0, "Success: Powered OFF"],
      ["status", 2, "Status: OFF"],
    ]);
    expect(r.report.answers.every((a) => a.delegate === "host-2")).toBe(true);
    expect(delegateOutcome(r.report.result)).toEqual({ outcome: "off", tryNext: false });
    // The agent printed the password; the script's output never does.
    expect(`${r.stdout}${r.stderr}`).not.toContain(SECRET);
    expect(r.awsArgs).toContain(
      "secretsmanager get-secret-value --region eu-west-1 --secret-id lazarus/bmc/ok",
    );
    expect(r.awsArgs).not.toContain(SECRET);
  });

  it("status with TLS verified and no system named: neither option is given", () => {
    const r = run(request(), "off");
    expect(r.code).toBe(0);
    expect(r.redfishStdin).not.toMatch(/ssl_insecure|systems_uri|lanplus|cipher|ipmitool_path/);
    expect(r.report.result).toMatchObject({ result: "off", detail: "the BMC says the power is off" });
  });

  it("an SSM SecureString parameter is read with decryption", () => {
    const r = run(request({ credentials: { ssmParameter: "/lazarus/bmc/ok" } }));
    expect(r.code).toBe(0);
    expect(r.awsArgs).toContain(
      "ssm get-parameter --with-decryption --region eu-west-1 --name /lazarus/bmc/ok",
    );
    expect(r.report.result?.result).toBe("on");
  });
});

describe("fence_ipmilan through the script", () => {
  it("the real agent reaches ipmitool with -E and the password in its environment, never -P", () => {
    const r = run(request({ agent: "fence_ipmilan", action: "off", port: 6230 }));
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.report.result?.result).toBe("off");
    const calls = r.ipmitoolArgs.trim().split("\n");
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const call of calls) {
      expect(call).toMatch(/^-E -I lanplus -H bmc-7\.oob\.example\.net -p 6230 -U fence -C 3 /);
      expect(call).not.toMatch(/(^| )-P( |$)/);
      expect(call).not.toContain(SECRET);
    }
    expect(
      r.ipmitoolEnv
        .trim()
        .split("\n")
        .every((l) => l === "env-ok"),
    ).toBe(true);
    expect(`${r.stdout}${r.stderr}`).not.toContain(SECRET);
  });

  it("lanplus off: IPMI 1.5 (-I lan), no cipher suite", () => {
    const r = run(request({ agent: "fence_ipmilan", lanplus: false }));
    expect(r.code).toBe(0);
    expect(r.ipmitoolArgs).toMatch(/^-E -I lan -H /);
    expect(r.ipmitoolArgs).not.toContain("-C ");
  });
});

describe("nothing runs without the password, or late", () => {
  it("a secret that cannot be read: no agent call, exit 3, the CLI's answer reported", () => {
    const r = run(request({ credentials: { secretsManager: "lazarus/bmc/missing" }, action: "off" }));
    expect(r.code).toBe(3);
    expect(r.redfishArgc).toBe("");
    expect(r.report.result?.result).toBe("no-credentials");
    expect(r.report.answers).toEqual([
      expect.objectContaining({
        step: "credentials",
        exitCode: 254,
        answer: expect.stringContaining("ResourceNotFoundException"),
      }),
    ]);
    expect(delegateOutcome(r.report.result)).toEqual({ outcome: "failed", tryNext: true });
  });

  it("a password with a line break (it would inject options): refused before the agent", () => {
    const r = run(request({ credentials: { secretsManager: "lazarus/bmc/nl" } }));
    expect(r.code).toBe(3);
    expect(r.redfishArgc).toBe("");
    expect(r.report.result?.detail).toMatch(/line break/);
  });

  it("a command delivered after its deadline does nothing", () => {
    const r = run(request({ action: "off", notAfter: Math.floor(Date.now() / 1000) - 5 }));
    expect(r.code).toBe(9);
    expect(r.awsArgs).toBe("");
    expect(r.redfishArgc).toBe("");
    expect(r.report.result?.result).toBe("expired");
  });
});

describe("the request", () => {
  it("every value is validated before it reaches the script; the script quotes each", () => {
    const bad: Partial<FenceAgentRequest>[] = [
      { address: "bmc; reboot" },
      { address: "10.0.0.1\nipmitool_path=/tmp/x" },
      { port: 0 },
      { port: 65536 },
      { username: "fence\npassword=x" },
      { region: "eu-west-1; id" },
      { systemsUri: "/redfish/v1/$(id)" },
      { credentials: { secretsManager: "a b" } },
      { deadlineSeconds: 4 },
    ];
    for (const b of bad)
      expect(() => fenceThroughDelegate(request(b)), JSON.stringify(b)).toThrow(InvalidInput);
    const command = fenceThroughDelegate(request({ address: "2001:db8::7" }));
    expect(command.document).toBe("fence-through-delegate");
    expect(command.parameters).toMatchObject({ address: "2001:db8::7", credentialId: "lazarus/bmc/ok" });
    // SSM refuses the same values (the document's patterns), and the script checks them again.
    for (const [name, value] of [
      ["address", "bmc; reboot"],
      ["username", "fence\npassword=x"],
      ["systemsUri", "/redfish/v1/$(id)"],
      ["credentialId", "a b"],
    ] as const) {
      expect(
        () => resolveHostCommand({ ...command, parameters: { ...command.parameters, [name]: value } }),
        name,
      ).toThrow(/failed to satisfy constraint/);
    }
  });

  it("reads only its own report lines", () => {
    const out = [
      "noise",
      "lazarus-fence step=status exit=1 at=2026-01-01T00:00:00.000Z answer=Failed: Unable to obtain correct plug status",
      "lazarus-fence step=status exit=x at=2026-01-01T00:00:00.000Z answer=bad exit",
      "lazarus-fence result=off at=not-a-time detail=bad time",
      "lazarus-fence result=failed at=2026-01-01T00:00:01.000Z detail=the BMC refused the off or did not answer",
    ].join("\n");
    const report = parseFenceReport(out, "host-3");
    expect(report.answers).toEqual([
      {
        delegate: "host-3",
        step: "status",
        at: "2026-01-01T00:00:00.000Z",
        exitCode: 1,
        answer: "Failed: Unable to obtain correct plug status",
      },
    ]);
    expect(report.result).toEqual({
      result: "failed",
      at: "2026-01-01T00:00:01.000Z",
      detail: "the BMC refused the off or did not answer",
    });
    expect(delegateOutcome(null)).toEqual({ outcome: "failed", tryNext: true });
    expect(delegateOutcome({ ...report.result!, result: "timed-out" })).toEqual({
      outcome: "timed-out",
      tryNext: true,
    });
  });
});
