/**
 * Timeouts from one place (issue 30): every function is deployed with the timeout of
 * shared/definitions/timeouts.ts, the API within API Gateway's 29 s whatever it runs (its host commands
 * and the clean shutdown inside that), the sweeper's threshold for an API request's task above the API's
 * timeout, every state machine bounded, a parent machine outliving the children it waits for.
 */
import { describe, expect, it } from "vitest";
import { API_TASK_ABANDONED_MS } from "#functions/sweeper/sweep.js";
import { ALL_FUNCTIONS, API_FUNCTIONS } from "#shared/definitions/functions.js";
import { readDefinition, STATE_MACHINES } from "#shared/definitions/state-machines.js";
import {
  API_GATEWAY_TIMEOUT_SECONDS,
  API_HOST_COMMAND_DEADLINE_SECONDS,
  API_SHUTDOWN_TIMEOUT_MAX_SECONDS,
  functionTimeoutSeconds,
  LAMBDA_MAX_TIMEOUT_SECONDS,
} from "#shared/definitions/timeouts.js";
import { functionResource, synth } from "./synth.js";

describe("function timeouts", () => {
  const s = synth();

  it("each function is deployed with its timeout from shared/definitions/timeouts.ts", () => {
    for (const spec of ALL_FUNCTIONS) {
      const timeout = functionResource(s, spec)[1].Properties!.Timeout;
      expect(timeout, spec.id).toBe(functionTimeoutSeconds(spec));
      expect(timeout, spec.id).toBeLessThanOrEqual(LAMBDA_MAX_TIMEOUT_SECONDS);
    }
  });

  it("the API answers within API Gateway's timeout, its host commands and clean shutdowns inside it", () => {
    for (const api of API_FUNCTIONS) {
      expect(functionResource(s, api)[1].Properties!.Timeout).toBe(API_GATEWAY_TIMEOUT_SECONDS);
    }
    expect(API_HOST_COMMAND_DEADLINE_SECONDS).toBeLessThan(API_GATEWAY_TIMEOUT_SECONDS);
    expect(API_SHUTDOWN_TIMEOUT_MAX_SECONDS).toBeLessThan(API_HOST_COMMAND_DEADLINE_SECONDS);
  });

  it("the sweeper releases an API request's task only after the API function can no longer run", () => {
    const apiTimeoutMs = functionTimeoutSeconds(API_FUNCTIONS[0]!) * 1000;
    expect(API_TASK_ABANDONED_MS).toBeGreaterThan(apiTimeoutMs);
    expect(API_TASK_ABANDONED_MS).toBeLessThanOrEqual(apiTimeoutMs + 10_000);
  });
});

describe("state machine timeouts", () => {
  const timeoutOf = (id: string) =>
    (JSON.parse(readDefinition(STATE_MACHINES.find((m) => m.id === id)!)) as { TimeoutSeconds?: number })
      .TimeoutSeconds;

  it.each(STATE_MACHINES.map((m) => [m.id]))("%s has a TimeoutSeconds", (id) => {
    expect(timeoutOf(id)).toBeGreaterThan(0);
  });

  it("host recovery (which waits for the evacuation) outlives host evacuation, which outlives its rebuilds", () => {
    expect(timeoutOf("host-recovery")!).toBeGreaterThan(timeoutOf("host-evacuation")!);
    expect(timeoutOf("host-evacuation")!).toBeGreaterThan(timeoutOf("rebuild")!);
    expect(timeoutOf("instance-recovery")!).toBeGreaterThanOrEqual(timeoutOf("rebuild")!);
  });
});
