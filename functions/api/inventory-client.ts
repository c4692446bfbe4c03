/**
 * The API's way to host registration, adoption and sync: a Lambda Invoke of the inventory functions
 * (functions/inventory), which alone may run commands on hosts. The API maps nova-style snake_case bodies
 * to their requests, and a refusal they raise (HostNotTagged, HostUnreachable, ...) to its own status.
 */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { ApiError } from "./http.js";

/** The status of each refusal the inventory functions raise (the class's httpStatus, across the wire). */
const STATUS: Record<string, number> = {
  InvalidInput: 400,
  HostNotFound: 404,
  HostNotTagged: 403,
  HostUnreachable: 409,
  HostRegistrationConflict: 409,
  HostInUse: 409,
  HostCommandFailed: 502,
  HostCommandTimedOut: 504,
};

/**
 * Host registration, adoption and sync: the API validates the request and hands it to these (in AWS and
 * locally, a Lambda Invoke of the inventory functions: `inventory-client.ts`); null answers 501.
 */
export interface InventoryOps {
  register(input: Record<string, unknown>): Promise<unknown>;
  /** Deletes the host's alarms, its name tag and its record (refused while it holds instances). */
  deregister(host: string): Promise<unknown>;
  adopt(host: string, input: Record<string, unknown>): Promise<unknown>;
  /** `apply: false` reports drift and writes nothing. */
  sync(host: string, opts: { apply: boolean }): Promise<unknown>;
}

export class LambdaInventory implements InventoryOps {
  constructor(
    private readonly client: LambdaClient,
    private readonly nameOf: (id: string) => string,
  ) {}

  register(input: Record<string, unknown>): Promise<unknown> {
    const storage = (input.storage ?? {}) as Record<string, unknown>;
    return this.invoke("inventory-register-host", {
      managedInstanceId: input.managed_instance_id,
      name: input.name,
      ...(input.availability_zone !== undefined ? { availabilityZone: input.availability_zone } : {}),
      ...(input.supports_recreate !== undefined ? { supportsRecreate: input.supports_recreate } : {}),
      // The settings file's shape (fencing.power, fencing.bmc, ...): validated by the registration.
      ...(input.fencing !== undefined ? { fencing: input.fencing } : {}),
      ...(input.storage !== undefined
        ? {
            storage: {
              instancesPath: storage.instances_path,
              imageCachePath: storage.image_cache_path,
              volumesPath: storage.volumes_path,
              sharedPoolId: storage.shared_pool_id,
            },
          }
        : {}),
    });
  }

  deregister(host: string): Promise<unknown> {
    return this.invoke("inventory-deregister-host", { host });
  }

  adopt(host: string, input: Record<string, unknown>): Promise<unknown> {
    return this.invoke("inventory-adopt-host", {
      host,
      ...(input.ha_enabled !== undefined ? { haEnabled: input.ha_enabled } : {}),
    });
  }

  sync(host: string, opts: { apply: boolean }): Promise<unknown> {
    return this.invoke("inventory-sync", { hosts: [host], apply: opts.apply });
  }

  private async invoke(id: string, payload: unknown): Promise<unknown> {
    const out = await this.client.send(
      new InvokeCommand({ FunctionName: this.nameOf(id), Payload: Buffer.from(JSON.stringify(payload)) }),
    );
    const text = out.Payload ? Buffer.from(out.Payload).toString("utf8") : "null";
    const body = JSON.parse(text || "null") as { errorType?: string; errorMessage?: string } | null;
    if (out.FunctionError) {
      const status = STATUS[body?.errorType ?? ""] ?? 502;
      throw new ApiError(status, body?.errorMessage ?? `${id} failed`);
    }
    return body;
  }
}
