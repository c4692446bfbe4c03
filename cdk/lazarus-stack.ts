/**
 * The whole of Lazarus in one stack, generic over the shared definitions: every table of TABLE_SPECS,
 * every function of ALL_FUNCTIONS (roles from their `access`), every machine of STATE_MACHINES, the API
 * for the `api` function, timers for `scheduled` ones, heartbeat alarms and their rules for `trigger`
 * ones. Add a function or a machine to shared/definitions and it is deployed; nothing here names one.
 */
import { CfnOutput, Duration, Stack, type StackProps, Validations } from "aws-cdk-lib";
import { EventBus } from "aws-cdk-lib/aws-events";
import type { Topic } from "aws-cdk-lib/aws-sns";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { notificationBusName } from "#shared/definitions/events.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import { HEARTBEAT_METRIC } from "#shared/definitions/heartbeat.js";
import { deployedName, STATE_MACHINES, type StateMachineSpec } from "#shared/definitions/state-machines.js";
import { TABLE_IDS, tableEnvVar } from "#shared/store/tables.js";
import { HOST_DOCUMENT_PREFIX_ENV, type HostDocument } from "#ssm-documents/document.js";
import { HOST_DOCUMENTS } from "#ssm-documents/index.js";
import { API_STAGE, LazarusApi } from "./api.js";
import { stateMachineArnFromName } from "./arns.js";
import type { LazarusConfig } from "./config.js";
import { LazarusConsole } from "./console.js";
import { LazarusFunctions } from "./functions.js";
import { HostDocuments } from "./host-documents.js";
import { HostFailure } from "./host-failure.js";
import { HostRole, hostRoleSpecs } from "./host-role.js";
import { Paging } from "./paging.js";
import { LazarusRules } from "./rules.js";
import { LazarusStateMachines } from "./state-machines.js";
import { LazarusTables } from "./tables.js";

export interface LazarusStackProps extends StackProps {
  config: LazarusConfig;
  /** Default ALL_FUNCTIONS / STATE_MACHINES; tests pass extended lists to exercise every role. */
  functionSpecs?: readonly FunctionSpec[];
  stateMachineSpecs?: readonly StateMachineSpec[];
  /** Default HOST_DOCUMENTS; tests pass extended lists. */
  hostDocuments?: readonly HostDocument[];
}

export class LazarusStack extends Stack {
  readonly tables: LazarusTables;
  readonly functions: LazarusFunctions;
  readonly stateMachines: LazarusStateMachines;
  readonly api?: LazarusApi;
  readonly hostFailure: HostFailure;
  /** The KVM hosts' role and instance profile (what the host agent and a BMC delegate call). */
  /** `<prefix>-host` first, then one per `hostRole.groups` entry. */
  readonly hostRoles: HostRole[];
  readonly hostDocuments: HostDocuments;
  readonly rules: LazarusRules;
  readonly eventBus: EventBus;
  /** Where operators are paged. */
  readonly page: Topic;
  readonly paging: Paging;
  /** Where asynchronous work that finally failed lands (alarm events, timer runs, their deliveries). */
  readonly asyncFailures: Queue;

  constructor(scope: Construct, id: string, props: LazarusStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { prefix } = config;
    const functionSpecs = props.functionSpecs ?? ALL_FUNCTIONS;
    const machineSpecs = props.stateMachineSpecs ?? STATE_MACHINES;

    this.tables = new LazarusTables(this, "tables");
    const documents = props.hostDocuments ?? HOST_DOCUMENTS;
    this.hostDocuments = new HostDocuments(this, "host-documents", { prefix, documents });

    // nova's notifications (instance.rebuild.start/end/error, instance.evacuate.*), archived for replay.
    this.eventBus = new EventBus(this, "notifications", { eventBusName: notificationBusName(prefix) });
    this.eventBus.archive("notifications-archive", {
      description: "Every Lazarus notification, for replay",
      eventPattern: { account: [this.account] },
      retention: Duration.days(config.logRetentionDays),
    });

    const asyncFailures = new Queue(this, "async-failures", {
      queueName: `${prefix}-async-failures`,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.asyncFailures = asyncFailures;
    for (const id of ["AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"]) {
      Validations.of(asyncFailures).acknowledge({
        id,
        reason:
          "This queue is itself the dead-letter queue (of the trigger and scheduled functions and their rules)",
      });
    }

    const environment: Record<string, string> = {
      LAZARUS_TABLE_PREFIX: prefix,
      [HOST_DOCUMENT_PREFIX_ENV]: prefix,
      LAZARUS_EVENT_BUS: this.eventBus.eventBusName,
      LAZARUS_HOST_COMMAND_DEADLINE_MS: String(config.hostCommandDeadlineSeconds * 1000),
      LAZARUS_HOST_PROBE_DEADLINE_MS: String(config.hostProbeDeadlineSeconds * 1000),
      LAZARUS_EVACUATION_POLICY: config.evacuation.policy,
      LAZARUS_EVACUATION_MAX_CONCURRENCY: String(config.evacuation.maxConcurrency),
      // The heartbeat alarms registration creates (shared/metrics/host-alarms.ts).
      LAZARUS_HEARTBEAT_MISSED_PERIODS: String(config.heartbeat.missedPeriods),
      // The mass-failure guard's reading of the fleet's heartbeats (shared/domain/fencing.ts settleVerdict).
      LAZARUS_HEARTBEAT_INTERVAL_SECONDS: String(config.heartbeat.intervalSeconds),
      POWERTOOLS_SERVICE_NAME: prefix,
      POWERTOOLS_LOG_LEVEL: config.logLevel,
      POWERTOOLS_METRICS_NAMESPACE: HEARTBEAT_METRIC.namespace,
    };
    for (const tableId of TABLE_IDS) environment[tableEnvVar(tableId)] = this.tables.byId[tableId].tableName;
    for (const m of machineSpecs) {
      environment[m.arnEnv] = stateMachineArnFromName(this, deployedName(prefix, m.id));
    }

    this.functions = new LazarusFunctions(this, "functions", {
      specs: functionSpecs,
      config,
      environment,
      asyncFailures,
      access: {
        stack: this,
        prefix,
        tables: this.tables.byId,
        eventBus: this.eventBus,
        stateMachineIds: machineSpecs.map((m) => m.id),
        hostDocumentIds: documents.map((d) => d.id),
      },
    });
    const fn = (spec: FunctionSpec) => this.functions.byId.get(spec.id)!;

    this.stateMachines = new LazarusStateMachines(this, "state-machines", {
      specs: machineSpecs,
      functionSpecs,
      functions: this.functions,
      config,
    });

    const apiSpecs = functionSpecs.filter((f) => f.role === "api");
    if (apiSpecs.length > 1) {
      throw new Error(`one api function expected, found ${apiSpecs.map((f) => f.id).join(", ")}`);
    }
    if (apiSpecs[0]) {
      this.api = new LazarusApi(this, "api", { handler: fn(apiSpecs[0]), config });
      new LazarusConsole(this, "console", { api: this.api.api, stage: API_STAGE, prefix });
      new CfnOutput(this, "ApiUrl", { value: this.api.api.url });
      new CfnOutput(this, "OperatorPolicyArn", { value: this.api.operatorPolicy.managedPolicyArn });
      new CfnOutput(this, "ReadOnlyOperatorPolicyArn", {
        value: this.api.readOnlyOperatorPolicy.managedPolicyArn,
      });
    }

    this.paging = new Paging(this, "paging", {
      config,
      functionSpecs,
      hostEvacuationArn: stateMachineArnFromName(this, deployedName(prefix, "host-evacuation")),
      hostRecoveryArn: stateMachineArnFromName(this, deployedName(prefix, "host-recovery")),
      rebuildArn: stateMachineArnFromName(this, deployedName(prefix, "rebuild")),
      apiName: this.api ? this.api.api.restApiName : null,
    });
    this.page = this.paging.topic;
    this.rules = new LazarusRules(this, "rules", {
      prefix,
      functionSpecs,
      functionById: (id) => {
        const found = this.functions.byId.get(id);
        if (!found) throw new Error(`a rule targets ${id}, which is not a function of this stack`);
        return found;
      },
      eventBus: this.eventBus,
      page: this.page,
      deadLetterQueue: asyncFailures,
    });

    this.hostFailure = new HostFailure(this, "host-failure", {
      prefix,
      logRetentionDays: config.logRetentionDays,
    });

    this.hostRoles = hostRoleSpecs(config).map(
      (spec) =>
        new HostRole(this, spec.group === undefined ? "host-role" : `host-role-${spec.group}`, {
          prefix,
          spec,
        }),
    );

    new CfnOutput(this, "NotificationBus", { value: this.eventBus.eventBusName });
    new CfnOutput(this, "HeartbeatLogGroup", { value: this.hostFailure.heartbeatLogs.logGroupName });
    new CfnOutput(this, "AsyncFailuresQueue", { value: asyncFailures.queueUrl });
    for (const [id, machine] of this.stateMachines.byId) {
      new CfnOutput(this, `StateMachine-${id}`, { value: machine.stateMachineArn });
    }
    for (const tableId of TABLE_IDS) {
      new CfnOutput(this, `Table-${tableId}`, { value: this.tables.byId[tableId].tableName });
    }
  }
}
