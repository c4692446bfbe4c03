/**
 * Metric names of the steps (published as EMF by shared/lambda/observability.ts): what operators graph and
 * alarm on. Each has the dimensions `service` and `step`; failures also `errorName`. Plain data: the CDK
 * dashboard reads them without importing Powertools.
 */
export const STEP_METRICS = {
  duration: "StepDuration",
  /** With dimension `errorName`. */
  failures: "StepFailures",
} as const;
