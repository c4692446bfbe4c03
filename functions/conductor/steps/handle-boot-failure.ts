/**
 * Where every failed path of the boot machine ends: shared/flow/end-boot.ts says what holds afterwards.
 * It returns the error instead of throwing it (its own Retry would publish twice); the machine then fails
 * with it (a Fail state with ErrorPath/CausePath).
 */
import { BootRequest, type FailedBoot } from "#shared/flow/boot-contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { endBoot } from "#shared/flow/end-boot.js";
import { describeCleanUpFailure, describeFailure } from "#shared/flow/flow-state.js";

export interface HandledBootFailure {
  outcome: "failed" | "finished";
  error: string;
  cause: string;
}

export async function handleBootFailure(deps: StepDeps, state: FailedBoot): Promise<HandledBootFailure> {
  const failure = describeFailure(state);
  const cleanUp = describeCleanUpFailure(state);
  const cause = cleanUp
    ? `${failure.message}; then the clean-up of ${state.host} failed (${cleanUp.error}: ${cleanUp.message})`
    : failure.message;
  const request = BootRequest.safeParse(
    state.requestId && state.build ? { requestId: state.requestId, build: state.build } : state.request,
  );
  if (request.success) {
    const ended = await endBoot(deps, {
      ...request.data,
      host: state.host ?? null,
      failure,
      cleanUpFailure: cleanUp,
    });
    if (ended === "finished") return { outcome: "finished", error: failure.error, cause };
  }
  return { outcome: "failed", error: failure.error, cause };
}
