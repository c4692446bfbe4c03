/**
 * One retry vocabulary for every machine: a Task that retries DynamoDB's throttling retries its transient
 * server errors too (InternalServerError, ServiceUnavailable), as the rebuild, boot, migrate and delete
 * machines always did. The host-evacuation, host-recovery and instance-recovery machines did not: in a long
 * chaos run (seed 3715491452, round 169) one InternalServerError in ConfirmEvacuation, then one in
 * AbortIncident, failed a host evacuation and left a stale domain and its claim on the returned host.
 */
import { describe, expect, it } from "vitest";
import { readDefinition, STATE_MACHINES } from "#shared/definitions/state-machines.js";

type State = {
  Type: string;
  Retry?: { ErrorEquals: string[] }[];
  Branches?: { States: Record<string, State> }[];
  ItemProcessor?: { States: Record<string, State> };
};

function tasks(states: Record<string, State>, path = ""): [string, State][] {
  return Object.entries(states).flatMap(([name, s]) => [
    ...(s.Type === "Task" ? [[`${path}${name}`, s] as [string, State]] : []),
    ...(s.Branches ?? []).flatMap((b) => tasks(b.States, `${path}${name}/`)),
    ...(s.ItemProcessor ? tasks(s.ItemProcessor.States, `${path}${name}/`) : []),
  ]);
}

describe("every machine's retries", () => {
  for (const spec of STATE_MACHINES) {
    it(`${spec.id}: a retry of DynamoDB's throttling retries its 5xx too`, () => {
      const definition = JSON.parse(readDefinition(spec)) as { States: Record<string, State> };
      const retrying = tasks(definition.States).flatMap(([name, s]) =>
        (s.Retry ?? [])
          .filter((r) => r.ErrorEquals.includes("ThrottlingException"))
          .map((r) => [name, r.ErrorEquals] as const),
      );
      expect(retrying.length, `${spec.id} retries no DynamoDB throttling at all`).toBeGreaterThan(0);
      for (const [name, errors] of retrying)
        expect(errors, name).toEqual(expect.arrayContaining(["InternalServerError", "ServiceUnavailable"]));
    });
  }
});
