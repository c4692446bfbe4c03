/**
 * The boot flow's entry (nova's `compute/api.py` create, the build request): the request is strict, its
 * flavor and image must be in the catalog, and its create action (with the build) is recorded if the API
 * has not already (a direct StartExecution gets the same). A build deleted before it was placed is not
 * built. `instance.create.start` is published.
 */
import { findFlavor, findImage } from "#shared/domain/catalog.js";
import { InstanceNotFound, InvalidInput } from "#shared/domain/errors.js";
import { BootRequest, type BootState } from "#shared/flow/boot-contract.js";
import type { AcceptInput } from "#shared/flow/contract.js";
import type { StepDeps } from "#shared/flow/deps.js";
import { notifyFlow } from "#shared/flow/notify.js";
import { parseOrInvalid } from "#shared/flow/parse.js";

export async function acceptBoot(deps: StepDeps, input: AcceptInput): Promise<BootState> {
  const req = parseOrInvalid(BootRequest, input.request, "request");
  const { build } = req;
  if (!findFlavor(build.flavorId)) throw new InvalidInput(`Flavor ${build.flavorId} could not be found.`);
  if (findImage(build.imageRef)?.id !== build.imageRef)
    throw new InvalidInput(`Image ${build.imageRef} could not be found.`);
  const existing = await deps.stores.instances.get(build.instanceUuid);
  if (existing && existing.taskRequestId !== req.requestId && existing.lastRequestId !== req.requestId)
    throw new InvalidInput(`instance ${build.instanceUuid} already exists`, {
      instanceUuid: build.instanceUuid,
    });
  const action = await deps.stores.actions.open({
    id: req.requestId,
    instanceUuid: build.instanceUuid,
    action: "create",
    startTime: deps.now().toISOString(),
    message: null,
    events: [],
    executionArn: input.executionArn,
    build: { spec: build, status: "building", fault: null },
  });
  if (action.instanceUuid !== build.instanceUuid || action.action !== "create")
    throw new InvalidInput(`request ${req.requestId} is another action`, { requestId: req.requestId });
  if (action.build?.status === "deleted")
    throw new InstanceNotFound(`Instance ${build.instanceUuid} was deleted before it was built.`);
  await notifyFlow(
    deps,
    { requestId: req.requestId, instanceUuid: build.instanceUuid },
    "instance.create.start",
    {
      action: "create",
      flavor: build.flavorId,
      image_ref: build.imageRef,
    },
  );
  return { ...req, executionArn: input.executionArn, host: null };
}
