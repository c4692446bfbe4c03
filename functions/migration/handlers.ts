/** The migrate machine's Lambda handlers (issue 32): each parses its input and runs one step. */
import { AcceptInput } from "#shared/flow/contract.js";
import { FailedMigration, MigrationFlow } from "#shared/flow/migration-contract.js";
import { handlerWith, stepHandler } from "#shared/lambda/handler.js";
import { maintenanceDepsFromEnv } from "#shared/lambda/maintenance-runtime.js";
import { acceptMigration as acceptStep } from "./steps/accept.js";
import { checkMigrationTarget as checkTargetStep } from "./steps/check-target.js";
import { commitMigration as commitStep } from "./steps/commit.js";
import { confirmMigration as confirmStep } from "./steps/confirm.js";
import { handleMigrationFailure as handleFailureStep } from "./steps/handle-failure.js";
import { liveMigrate as liveMigrateStep } from "./steps/live-migrate.js";
import { revertMigration as revertStep } from "./steps/revert.js";
import { scheduleMigration as scheduleStep } from "./steps/schedule.js";
import { startOnTarget as startOnTargetStep } from "./steps/start-on-target.js";
import { stopSource as stopSourceStep } from "./steps/stop-source.js";

export const acceptMigration = stepHandler(AcceptInput, acceptStep);
export const scheduleMigration = stepHandler(MigrationFlow, scheduleStep);
export const checkMigrationTarget = stepHandler(MigrationFlow, checkTargetStep);
export const liveMigrate = handlerWith(maintenanceDepsFromEnv, MigrationFlow, liveMigrateStep);
export const stopSource = stepHandler(MigrationFlow, stopSourceStep);
export const startOnTarget = stepHandler(MigrationFlow, startOnTargetStep);
export const commitMigration = stepHandler(MigrationFlow, commitStep);
export const confirmMigration = stepHandler(MigrationFlow, confirmStep);
export const revertMigration = stepHandler(MigrationFlow, revertStep);
export const handleMigrationFailure = stepHandler(FailedMigration, handleFailureStep);
