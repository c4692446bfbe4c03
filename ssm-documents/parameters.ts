/**
 * The parameters the documents share, each with the pattern of the value's schema (shared/domain/values.ts).
 * Plain constants: a document that uses them stays an object literal.
 */
import {
  ABSOLUTE_PATH_MAX_CHARS,
  ABSOLUTE_PATH_PATTERN,
  DOMAIN_UUID_PATTERN,
  SECONDS_UP_TO_A_DAY_PATTERN,
} from "#shared/domain/values.js";
import type { DocumentParameter } from "./document.js";

export const DOMAIN_UUID: DocumentParameter = {
  description: "The domain's uuid (the instance's), lower case.",
  allowedPattern: DOMAIN_UUID_PATTERN,
  maxChars: 36,
};

export const INSTANCES_PATH: DocumentParameter = {
  description: "The host's instances folder: the instance's files are in <instancesPath>/<uuid>.",
  allowedPattern: ABSOLUTE_PATH_PATTERN,
  maxChars: ABSOLUTE_PATH_MAX_CHARS,
};

export const VOLUMES_PATH: DocumentParameter = {
  description: "The host's volumes folder.",
  allowedPattern: ABSOLUTE_PATH_PATTERN,
  maxChars: ABSOLUTE_PATH_MAX_CHARS,
};

/** A clean shutdown's wait before the domain is destroyed (stop, reboot, a cold migration's source). */
export const SHUTDOWN_TIMEOUT_SECONDS: DocumentParameter = {
  description: "Seconds the guest gets to shut down before the domain is destroyed (0: at once).",
  allowedPattern: SECONDS_UP_TO_A_DAY_PATTERN,
  maxChars: 5,
};
