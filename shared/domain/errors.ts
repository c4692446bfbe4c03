/**
 * One named error class per failure. Step Functions `Retry`/`Catch` match on the error's name
 * (the Lambda runtime reports `error.name` as `errorType`), so these names are the flows' vocabulary.
 * `httpStatus` is what the API answers with when the error reaches a caller.
 */
export abstract class LazarusError extends Error {
  abstract readonly httpStatus: number;
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
  }

  toJSON(): { errorType: string; errorMessage: string; details: Record<string, unknown> } {
    return { errorType: this.name, errorMessage: this.message, details: this.details };
  }
}

/** Input that does not match its schema. */
export class InvalidInput extends LazarusError {
  readonly httpStatus = 400;
}
export class InstanceNotFound extends LazarusError {
  readonly httpStatus = 404;
}
export class HostNotFound extends LazarusError {
  readonly httpStatus = 404;
}
export class MigrationNotFound extends LazarusError {
  readonly httpStatus = 404;
}
/** vm_state does not allow the operation (nova: InstanceInvalidState, 409). */
export class InstanceInvalidState extends LazarusError {
  readonly httpStatus = 409;
}
/** task_state was not what the write expected (nova: UnexpectedTaskStateError, 409). */
export class UnexpectedTaskState extends LazarusError {
  readonly httpStatus = 409;
}
/** The record changed since it was read (version mismatch): re-read and decide again. */
export class ConcurrentUpdate extends LazarusError {
  readonly httpStatus = 409;
}
/** A transition that `states.ts` does not allow. A bug, never a retryable condition. */
export class InvalidStateTransition extends LazarusError {
  readonly httpStatus = 500;
}
/** Evacuate while the source host's compute service is up (nova: 400 "Compute service of X is still in use"). */
export class ComputeServiceInUse extends LazarusError {
  readonly httpStatus = 400;
}
/** Rebuild in place while the instance's host is down: nothing there could run the rebuild. */
export class ComputeServiceUnavailable extends LazarusError {
  readonly httpStatus = 409;
}
/** Evacuate to the host the instance is on (nova: 400 "The target host can't be the same one."). */
export class InvalidTargetHost extends LazarusError {
  readonly httpStatus = 400;
}
/** The scheduler found no host passing every filter. */
export class NoValidHost extends LazarusError {
  readonly httpStatus = 400;
}
/** A resource claim on a host was refused: it would overcommit, or break a server-group policy. */
export class ClaimRefused extends LazarusError {
  readonly httpStatus = 409;
}
export class InstanceEvacuateNotSupported extends LazarusError {
  readonly httpStatus = 400;
}
/** The instance is already defined on the target hypervisor. */
export class InstanceExists extends LazarusError {
  readonly httpStatus = 409;
}
/** The caller's on_shared_storage hint contradicts what the target host sees. */
export class InvalidSharedStorage extends LazarusError {
  readonly httpStatus = 400;
}
export class PreserveEphemeralNotSupported extends LazarusError {
  readonly httpStatus = 400;
}
/** The host's agent cannot be reached: the command was never run (SSM: Undeliverable, ConnectionLost). */
export class HostUnreachable extends LazarusError {
  readonly httpStatus = 503;
}
/** The command ran on the host and exited non-zero. */
export class HostCommandFailed extends LazarusError {
  readonly httpStatus = 502;
}
/** The command did not reach a terminal status before its deadline. */
export class HostCommandTimedOut extends LazarusError {
  readonly httpStatus = 504;
}
/** Registration refused: the managed instance does not carry the Lazarus KVM host tag. */
export class HostNotTagged extends LazarusError {
  readonly httpStatus = 403;
}
/** Registration refused: the name or the managed-instance id is already registered to another host. */
export class HostRegistrationConflict extends LazarusError {
  readonly httpStatus = 409;
}
/** A host that still holds instances or claims cannot be deregistered (nova: a compute service hosting instances). */
export class HostInUse extends LazarusError {
  readonly httpStatus = 409;
}
/** The domain could not be defined or started on the target host. */
export class SpawnFailed extends LazarusError {
  readonly httpStatus = 502;
}
/**
 * The target refused to start the domain because another process still holds its disk's write lock (qemu's
 * image lock, or virtlockd): the old copy runs. Never retried on another host; the flow cleans the target
 * and ends "fencing required" (shared/flow/end-flow.ts).
 */
export class DiskLocked extends LazarusError {
  readonly httpStatus = 409;
}
/**
 * How an evacuation ends when the old copy may still run (a disk lock refused the target): not ERROR, the
 * instance keeps its record, its host and vm_state, and can be evacuated again once its host is fenced.
 */
export class FencingRequired extends LazarusError {
  readonly httpStatus = 409;
}

/**
 * A placement raced: the host's usage changed between the scheduler's read and the claim. The scheduler
 * reads again and weighs again, so concurrent placements spread as a sequential run would.
 */
export class PlacementRaced extends LazarusError {
  readonly httpStatus = 409;
}
/** The image is not in the target host's image cache: nothing is destroyed or created. */
export class ImageNotCached extends LazarusError {
  readonly httpStatus = 400;
}
/**
 * A probe on a host did not answer the question (virsh or the shell failed): never read as "absent".
 * Like a timed-out command, the host may be in any state.
 */
export class ProbeFailed extends LazarusError {
  readonly httpStatus = 502;
}
/**
 * A target host this flow used could not be proven clean (its clean-up failed or the host stopped
 * answering): a copy of the instance may still be defined or running there. The flow keeps the claim on
 * that host and tries no other; the fault names the host. A later evacuation cleans it first.
 */
export class TargetNotClean extends LazarusError {
  readonly httpStatus = 409;
}
/** nova's InstanceIsLocked: a locked instance cannot be rebuilt. */
export class InstanceIsLocked extends LazarusError {
  readonly httpStatus = 409;
}

/**
 * A migration refused before anything changed (nova's MigrationPreCheckError): the instance's disk is not
 * on storage the target shares (block migration is not supported), the target takes no live migration,
 * the guest does not run. The instance is left as it was.
 */
export class MigrationPreCheckFailed extends LazarusError {
  readonly httpStatus = 400;
}
/** `virsh migrate --live` failed: the guest still runs on its source (the flow proves where it runs). */
export class LiveMigrationFailed extends LazarusError {
  readonly httpStatus = 502;
}
/**
 * A host's maintenance cannot change as asked: drained while it is already draining or failed (an open
 * host-failure incident), undrained while a drain still runs, or not in maintenance at all.
 */
export class HostMaintenanceConflict extends LazarusError {
  readonly httpStatus = 409;
}

/**
 * Domains a host-recovery clean-up removed are still defined on the returning host afterwards: the stale
 * copies are not proven gone, so the host's records are not released.
 */
export class StaleDomainsRemain extends LazarusError {
  readonly httpStatus = 502;
}
/** EventBridge refused an event (PutEvents' FailedEntryCount): a notification or alert was not published. */
export class EventRefused extends LazarusError {
  readonly httpStatus = 502;
}

/**
 * The failure a flow's Catch recorded, raised again by the step that ends the flow, under the original
 * error's name: the execution fails as the step that failed did (its Catch only made room for clean-up).
 */
export class RecordedFailure extends LazarusError {
  readonly httpStatus = 500;

  constructor(failure: { Error: string; Cause?: string | undefined }, message: string) {
    super(message, { error: failure.Error, cause: failure.Cause ?? null });
    this.name = failure.Error;
  }
}

/**
 * A Lambda's environment sets a variable to a value that is not valid (shared/lambda/settings.ts): a
 * deployment error, refused before any step acts on it.
 */
export class InvalidSetting extends LazarusError {
  readonly httpStatus = 500;
}

export function isLazarusError(e: unknown): e is LazarusError {
  return e instanceof LazarusError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
