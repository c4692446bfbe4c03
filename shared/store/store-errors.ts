/**
 * Errors raised only by the data layer, for records errors.ts has no class for yet.
 * They extend LazarusError, so Step Functions can match them by name like the domain's own.
 */
import { LazarusError } from "../domain/errors.js";

/** create() of a record whose key is taken by a different record (an identical one is an idempotent success). */
export class RecordExists extends LazarusError {
  readonly httpStatus = 409;
}
export class PortNotFound extends LazarusError {
  readonly httpStatus = 404;
}
export class VolumeNotFound extends LazarusError {
  readonly httpStatus = 404;
}
/** The volume is attached to another instance, in error, or the attachment id is already used differently. */
export class VolumeAttachRefused extends LazarusError {
  readonly httpStatus = 409;
}
/** The port belongs to another instance (neutron: PortInUse). */
export class PortInUse extends LazarusError {
  readonly httpStatus = 409;
}
/** A stored record does not match its schema: a bug or a foreign write, never retryable. */
export class CorruptRecord extends LazarusError {
  readonly httpStatus = 500;
}
