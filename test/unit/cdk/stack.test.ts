/**
 * The synthesized template against the shared definitions: tables equal the local cloud's CreateTable
 * inputs, one function per spec with its own least-privilege role, each state machine's substitutions
 * point at functions and machines of the same template, the API is IAM-only, heartbeat alarms and
 * their rules follow shared/definitions/heartbeat.ts, and nothing refers to itself in a cycle.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { HOST_COMMAND_DOCUMENT, TABLE_READ_ACTIONS, TABLE_WRITE_ACTIONS } from "#cdk/access-policy.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import {
  HEARTBEAT_METRIC,
  HEARTBEAT_PERIOD_SECONDS,
  heartbeatAlarmName,
  hostOfHeartbeatAlarm,
} from "#shared/definitions/heartbeat.js";
import { KVM_HOST_TAG } from "#shared/definitions/host-tag.js";
import {
  deployedName,
  placeholdersOf,
  readDefinition,
  STATE_MACHINES,
} from "#shared/definitions/state-machines.js";
import { toCreateTableInput } from "#shared/store/create-tables.js";
import { TABLE_IDS, TABLE_SPECS, tableEnvVar } from "#shared/store/tables.js";
import {
  EXTENDED_FUNCTIONS,
  EXTRA_FUNCTIONS,
  flat,
  logicalIdOf,
  PARENT_MACHINE,
  type Resource,
  resourcesOfType,
  type Synthesized,
  synth,
  synthExtended,
  TEST_HOSTS,
} from "./synth.js";

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string>>;
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const sorted = (xs: Iterable<string>) => [...xs].sort();

const realSpecs = ALL_FUNCTIONS;
const specs: FunctionSpec[] = EXTENDED_FUNCTIONS;
let s: Synthesized;
beforeAll(() => {
  s = synthExtended();
});

function functionResource(spec: FunctionSpec): [string, Resource] {
  const found = resourcesOfType(s, "AWS::Lambda::Function").filter(
    ([, r]) => r.Properties?.FunctionName === deployedName("lazarus", spec.id),
  );
  expect(found, spec.id).toHaveLength(1);
  return found[0]!;
}

/** Every statement of the inline policies attached to the role of a Lambda function. */
function roleStatements(fn: Resource): Statement[] {
  const roleId = (fn.Properties!.Role as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
  return resourcesOfType(s, "AWS::IAM::Policy")
    .filter(([, p]) => asArray(p.Properties!.Roles as unknown[]).some((r) => flat(r) === `<${roleId}>`))
    .flatMap(([, p]) => (p.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
}

const withAction = (statements: Statement[], action: string) =>
  statements.filter((st) => asArray(st.Action).includes(action));
const resourcesOf = (st: Statement) => asArray(st.Resource as unknown).map(flat);

describe("tables", () => {
  it.each(TABLE_IDS.map((id) => [id]))("%s: keys and indexes equal the local CreateTable input", (id) => {
    const logicalId = logicalIdOf(s, s.stack.tables.byId[id] as never);
    const table = s.json.Resources[logicalId]!;
    const props = table.Properties as Record<string, unknown>;
    const local = toCreateTableInput(TABLE_SPECS[id], "name");
    expect(props.KeySchema).toEqual(local.KeySchema);
    expect(
      sorted((props.AttributeDefinitions as { AttributeName: string }[]).map((a) => JSON.stringify(a))),
    ).toEqual(sorted(local.AttributeDefinitions!.map((a) => JSON.stringify(a))));
    const indexes = (props.GlobalSecondaryIndexes ?? []) as Record<string, unknown>[];
    expect(
      indexes.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: i.Projection })),
    ).toEqual(
      (local.GlobalSecondaryIndexes ?? []).map((i) => ({
        IndexName: i.IndexName,
        KeySchema: i.KeySchema,
        Projection: i.Projection,
      })),
    );
    expect(props.BillingMode).toBe("PAY_PER_REQUEST");
    expect(props.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(props.SSESpecification).toEqual({ SSEEnabled: true });
    expect(props.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe("Retain");
    expect(table.UpdateReplacePolicy).toBe("Retain");
    const ttl = TABLE_SPECS[id].timeToLiveAttribute;
    expect(props.TimeToLiveSpecification).toEqual(ttl ? { AttributeName: ttl, Enabled: true } : undefined);
  });

  it("exactly the tables of TABLE_SPECS", () => {
    expect(resourcesOfType(s, "AWS::DynamoDB::Table")).toHaveLength(TABLE_IDS.length);
  });
});

describe("functions", () => {
  it("one function per spec, and no other", () => {
    expect(resourcesOfType(s, "AWS::Lambda::Function")).toHaveLength(specs.length);
    expect(specs.length).toBe(realSpecs.filter((f) => f.role !== "api").length + EXTRA_FUNCTIONS.length);
  });

  it("each: nodejs24.x, arm64, traced, its handler, its own log group with retention", () => {
    for (const spec of specs) {
      const [, fn] = functionResource(spec);
      const p = fn.Properties!;
      expect(p.Runtime, spec.id).toBe("nodejs24.x");
      expect(p.Architectures, spec.id).toEqual(["arm64"]);
      expect(p.TracingConfig, spec.id).toEqual({ Mode: "Active" });
      expect(p.Handler, spec.id).toBe(`index.${spec.handler}`);
      expect(p.MemorySize, spec.id).toBeGreaterThanOrEqual(128);
      const logGroupId = flat((p.LoggingConfig as { LogGroup: unknown }).LogGroup).replace(/[<>]/g, "");
      const logGroup = s.json.Resources[logGroupId]!;
      expect(logGroup.Type).toBe("AWS::Logs::LogGroup");
      expect(logGroup.Properties!.RetentionInDays).toBe(30);
      expect(logGroup.Properties!.LogGroupName).toBe(`/aws/lambda/${deployedName("lazarus", spec.id)}`);
    }
  });

  it("each has its own role, with no managed policy", () => {
    const roles = specs.map((spec) => flat(functionResource(spec)[1].Properties!.Role));
    expect(new Set(roles).size).toBe(specs.length);
    for (const [, role] of resourcesOfType(s, "AWS::IAM::Role")) {
      const principal = JSON.stringify(role.Properties!.AssumeRolePolicyDocument);
      if (principal.includes("lambda.amazonaws.com"))
        expect(role.Properties!.ManagedPolicyArns).toBeUndefined();
    }
  });

  it("environment: every table, the bus, every state machine ARN, Powertools settings", () => {
    for (const spec of specs) {
      const vars = (
        functionResource(spec)[1].Properties!.Environment as { Variables: Record<string, unknown> }
      ).Variables;
      for (const id of TABLE_IDS) expect(flat(vars[tableEnvVar(id)]), spec.id).toMatch(/^<tables/);
      expect(flat(vars.LAZARUS_EVENT_BUS)).toMatch(/^<notifications/);
      for (const m of [...STATE_MACHINES, PARENT_MACHINE]) {
        expect(flat(vars[m.arnEnv])).toBe(
          `arn:<AWS::Partition>:states:eu-west-1:123456789012:stateMachine:${deployedName("lazarus", m.id)}`,
        );
      }
      expect(vars.POWERTOOLS_SERVICE_NAME).toBe("lazarus");
      expect(vars.POWERTOOLS_LOG_LEVEL).toBe("INFO");
    }
  });

  it("asynchronous functions (trigger, scheduled) send final failures to the async-failures queue; others not", () => {
    const queueArn = `<${logicalIdOf(s, s.stack.asyncFailures)}.Arn>`;
    const configs = resourcesOfType(s, "AWS::Lambda::EventInvokeConfig");
    for (const spec of specs) {
      const [fnId] = functionResource(spec);
      const config = configs.filter(([, c]) => flat(c.Properties!.FunctionName) === `<${fnId}>`);
      if (spec.role === "trigger" || spec.role === "scheduled") {
        expect(config, spec.id).toHaveLength(1);
        const destination = config[0]![1].Properties!.DestinationConfig as {
          OnFailure: { Destination: unknown };
        };
        expect(flat(destination.OnFailure.Destination)).toBe(queueArn);
      } else {
        expect(config, spec.id).toEqual([]);
      }
    }
  });
});

describe("least privilege", () => {
  it("no function may use a wildcard action", () => {
    for (const spec of specs) {
      const actions = roleStatements(functionResource(spec)[1]).flatMap((st) => asArray(st.Action));
      expect(
        actions.filter((a) => a.includes("*")),
        spec.id,
      ).toEqual([]);
    }
  });

  it("table actions: exactly the tables (and their indexes) of the spec's access, writes only where granted", () => {
    for (const spec of specs) {
      const statements = roleStatements(functionResource(spec)[1]).filter((st) =>
        asArray(st.Action).some((a) => a.startsWith("dynamodb:")),
      );
      const granted = new Map<string, Set<string>>();
      for (const st of statements) {
        for (const resource of resourcesOf(st)) {
          const tableId = TABLE_IDS.find((id) =>
            resource.startsWith(`<${logicalIdOf(s, s.stack.tables.byId[id] as never)}.Arn>`),
          );
          expect(tableId, `${spec.id}: ${resource}`).toBeDefined();
          const set = granted.get(tableId!) ?? new Set();
          for (const a of asArray(st.Action)) set.add(a);
          granted.set(tableId!, set);
          const index = resource.split("/index/")[1];
          if (index) expect(TABLE_SPECS[tableId!].globalIndexes.map((i) => i.indexName)).toContain(index);
        }
      }
      const expected = spec.access.tables ?? {};
      expect(sorted(granted.keys()), spec.id).toEqual(sorted(Object.keys(expected)));
      for (const [tableId, actions] of granted) {
        const level = expected[tableId as keyof typeof expected];
        expect(sorted(actions), `${spec.id} ${tableId}`).toEqual(
          sorted(level === "write" ? TABLE_WRITE_ACTIONS : TABLE_READ_ACTIONS),
        );
      }
    }
  });

  it("ssm:SendCommand only with hostCommands: the AWS-RunShellScript document and tagged hosts", () => {
    let checked = 0;
    for (const spec of specs) {
      const sendCommand = withAction(roleStatements(functionResource(spec)[1]), "ssm:SendCommand");
      if (!spec.access.hostCommands) {
        expect(sendCommand, spec.id).toEqual([]);
        continue;
      }
      checked++;
      const [document, hosts] = [
        sendCommand.filter((st) => resourcesOf(st).some((r) => r.includes(":document/"))),
        sendCommand.filter((st) => !resourcesOf(st).some((r) => r.includes(":document/"))),
      ];
      expect(document.flatMap(resourcesOf)).toEqual([
        `arn:<AWS::Partition>:ssm:eu-west-1::document/${HOST_COMMAND_DOCUMENT}`,
      ]);
      expect(hosts.length).toBeGreaterThan(0);
      for (const st of hosts) {
        expect(sorted(resourcesOf(st))).toEqual([
          "arn:<AWS::Partition>:ec2:eu-west-1:123456789012:instance/*",
          "arn:<AWS::Partition>:ssm:eu-west-1:123456789012:managed-instance/*",
        ]);
        expect(st.Condition).toEqual({
          StringEquals: { [`ssm:resourceTag/${KVM_HOST_TAG.key}`]: KVM_HOST_TAG.value },
        });
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("ec2:StopInstances only with fence, only on instances tagged as KVM hosts", () => {
    for (const spec of specs) {
      const stop = withAction(roleStatements(functionResource(spec)[1]), "ec2:StopInstances");
      if (!spec.access.fence) {
        expect(stop, spec.id).toEqual([]);
        continue;
      }
      expect(stop).toHaveLength(1);
      expect(resourcesOf(stop[0]!)).toEqual(["arn:<AWS::Partition>:ec2:eu-west-1:123456789012:instance/*"]);
      expect(stop[0]!.Condition).toEqual({
        StringEquals: { [`aws:ResourceTag/${KVM_HOST_TAG.key}`]: KVM_HOST_TAG.value },
      });
    }
    expect(specs.some((f) => f.access.fence)).toBe(true);
  });

  it("states:StartExecution only on the Lazarus machines the spec names", () => {
    for (const spec of specs) {
      const start = withAction(roleStatements(functionResource(spec)[1]), "states:StartExecution");
      const expected = (spec.access.startExecutions ?? []).map(
        (id) =>
          `arn:<AWS::Partition>:states:eu-west-1:123456789012:stateMachine:${deployedName("lazarus", id)}`,
      );
      expect(sorted(start.flatMap(resourcesOf)), spec.id).toEqual(sorted(expected));
    }
  });

  it("events:PutEvents only with publishEvents, only on the notifications bus", () => {
    for (const spec of specs) {
      const put = withAction(roleStatements(functionResource(spec)[1]), "events:PutEvents");
      if (!spec.access.publishEvents) expect(put, spec.id).toEqual([]);
      else expect(put.flatMap(resourcesOf), spec.id).toEqual([`<${logicalIdOf(s, s.stack.eventBus)}.Arn>`]);
    }
  });
});

describe("state machines", () => {
  const machines = [...STATE_MACHINES, PARENT_MACHINE];

  function machineResource(id: string): Resource {
    const found = resourcesOfType(s, "AWS::StepFunctions::StateMachine").filter(
      ([, r]) => r.Properties?.StateMachineName === deployedName("lazarus", id),
    );
    expect(found, id).toHaveLength(1);
    return found[0]![1];
  }

  it.each(machines.map((m) => [m.id, m] as const))(
    "%s: substitutions fill exactly the file's placeholders, each with a function or machine of this template",
    (_id, m) => {
      const subs = machineResource(m.id).Properties!.DefinitionSubstitutions as Record<string, unknown>;
      expect(sorted(Object.keys(subs))).toEqual(sorted(placeholdersOf(readDefinition(m))));
      for (const [placeholder, value] of Object.entries(subs)) {
        const fnSpec = specs.find((f) => f.placeholder === placeholder);
        const machineSpec = machines.find((x) => x.placeholder === placeholder);
        if (fnSpec) {
          const [logicalId] = functionResource(fnSpec);
          expect(value).toEqual({ "Fn::GetAtt": [logicalId, "Arn"] });
        } else {
          expect(machineSpec, placeholder).toBeDefined();
          const name = deployedName("lazarus", machineSpec!.id);
          expect(flat(value)).toBe(`arn:<AWS::Partition>:states:eu-west-1:123456789012:stateMachine:${name}`);
          machineResource(machineSpec!.id);
        }
      }
    },
  );

  it.each(machines.map((m) => [m.id, m] as const))("%s: logs ALL to CloudWatch, X-Ray on", (_id, m) => {
    const p = machineResource(m.id).Properties!;
    expect((p.LoggingConfiguration as { Level: string }).Level).toBe("ALL");
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
  });

  it("a machine's role invokes exactly the functions its definition names", () => {
    for (const m of machines) {
      const roleId = flat(machineResource(m.id).Properties!.RoleArn).replace(/^<|\.Arn>$/g, "");
      const statements = resourcesOfType(s, "AWS::IAM::Policy")
        .filter(([, p]) => asArray(p.Properties!.Roles as unknown[]).some((r) => flat(r) === `<${roleId}>`))
        .flatMap(([, p]) => (p.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
      const invoked = withAction(statements, "lambda:InvokeFunction").flatMap(resourcesOf);
      const expected = placeholdersOf(readDefinition(m))
        .map((p) => specs.find((f) => f.placeholder === p))
        .filter((f) => f !== undefined)
        .map((f) => `<${functionResource(f)[0]}.Arn>`);
      expect(sorted(invoked), m.id).toEqual(sorted(expected));
      const started = withAction(statements, "states:StartExecution").flatMap(resourcesOf);
      if (readDefinition(m).includes("states:::states:startExecution")) {
        // startExecution.sync:2 also needs to follow and stop the child, through Step Functions' managed rule.
        // The children are the machines whose placeholders the definition names (host-evacuation's rebuild,
        // host-drain's migrate), and only those.
        const children = STATE_MACHINES.filter((c) =>
          placeholdersOf(readDefinition(m)).includes(c.placeholder),
        );
        expect(started, m.id).toEqual(
          children.map(
            (c) =>
              `arn:<AWS::Partition>:states:eu-west-1:123456789012:stateMachine:${deployedName("lazarus", c.id)}`,
          ),
        );
        expect(withAction(statements, "states:DescribeExecution").flatMap(resourcesOf), m.id).toEqual(
          children.map(
            (c) =>
              `arn:<AWS::Partition>:states:eu-west-1:123456789012:execution:${deployedName("lazarus", c.id)}:*`,
          ),
        );
        expect(withAction(statements, "events:PutRule").flatMap(resourcesOf)).toEqual([
          "arn:<AWS::Partition>:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule",
        ]);
      } else {
        expect(started, m.id).toEqual([]);
      }
    }
  });
});

describe("API", () => {
  it("every method requires IAM authorization and calls the api function, but the console's static files", () => {
    // The console's files are mock integrations without authorization (test/unit/cdk/console.test.ts).
    const methods = resourcesOfType(s, "AWS::ApiGateway::Method").filter(
      ([, m]) => (m.Properties!.Integration as { Type: string }).Type !== "MOCK",
    );
    expect(methods.length).toBeGreaterThan(0);
    const [apiFnId] = functionResource(EXTRA_FUNCTIONS.find((f) => f.role === "api")!);
    for (const [, method] of methods) {
      expect(method.Properties!.AuthorizationType).toBe("AWS_IAM");
      expect(flat((method.Properties!.Integration as { Uri: unknown }).Uri)).toContain(`<${apiFnId}.Arn>`);
    }
  });

  it("the stage has JSON access logs, execution logs, tracing and throttling", () => {
    const stages = resourcesOfType(s, "AWS::ApiGateway::Stage");
    expect(stages).toHaveLength(1);
    const p = stages[0]![1].Properties!;
    expect((p.AccessLogSetting as { Format: string }).Format).toMatch(/^\{/);
    expect(p.TracingEnabled).toBe(true);
    expect(p.MethodSettings).toEqual([
      expect.objectContaining({
        LoggingLevel: "INFO",
        DataTraceEnabled: false,
        ThrottlingRateLimit: 10,
        ThrottlingBurstLimit: 20,
        HttpMethod: "*",
        ResourcePath: "/*",
      }),
    ]);
  });

  it("the operator policy allows execute-api:Invoke on this API's stage and nothing else", () => {
    const policies = resourcesOfType(s, "AWS::IAM::ManagedPolicy");
    expect(policies).toHaveLength(1);
    const statements = (policies[0]![1].Properties!.PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statements.flatMap((st) => asArray(st.Action))).toEqual(["execute-api:Invoke"]);
    expect(statements.flatMap(resourcesOf)[0]).toMatch(
      /:execute-api:eu-west-1:123456789012:<api.*>\/v1\/\*\/\*$/,
    );
  });
});

describe("host failure", () => {
  it("one heartbeat alarm per configured host: the shared metric, 10 s, missing data breaching", () => {
    const alarms = resourcesOfType(s, "AWS::CloudWatch::Alarm").filter(([, a]) =>
      String(a.Properties!.AlarmName).includes("-heartbeat-"),
    );
    expect(sorted(alarms.map(([, a]) => String(a.Properties!.AlarmName)))).toEqual(
      sorted(TEST_HOSTS.map((h) => heartbeatAlarmName(h, "lazarus"))),
    );
    for (const [, alarm] of alarms) {
      const p = alarm.Properties!;
      const host = hostOfHeartbeatAlarm(String(p.AlarmName), "lazarus");
      expect(p).toMatchObject({
        Namespace: HEARTBEAT_METRIC.namespace,
        MetricName: HEARTBEAT_METRIC.metricName,
        Dimensions: [{ Name: HEARTBEAT_METRIC.dimension, Value: host }],
        Period: HEARTBEAT_PERIOD_SECONDS,
        TreatMissingData: "breaching",
        ComparisonOperator: "LessThanThreshold",
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      });
    }
  });

  function ruleFor(state: string): Resource {
    const rules = resourcesOfType(s, "AWS::Events::Rule").filter(
      ([, r]) => r.Properties!.Name === `lazarus-heartbeat-${state.toLowerCase()}`,
    );
    expect(rules).toHaveLength(1);
    return rules[0]![1];
  }

  it("ALARM goes to the triggers that take ALARM; OK (after ALARM) to those that take OK; each with a DLQ", () => {
    const triggerIds = (state: string) =>
      specs
        .filter((f) => f.role === "trigger" && (f.alarmStates ?? ["ALARM", "OK"]).includes(state as "OK"))
        .map((f) => `<${functionResource(f)[0]}.Arn>`)
        .sort();
    for (const state of ["ALARM", "OK"]) {
      const rule = ruleFor(state);
      const pattern = rule.Properties!.EventPattern as {
        source: unknown;
        "detail-type": unknown;
        detail: Record<string, unknown>;
      };
      expect(pattern.source).toEqual(["aws.cloudwatch"]);
      expect(pattern["detail-type"]).toEqual(["CloudWatch Alarm State Change"]);
      expect(pattern.detail.alarmName).toEqual([{ prefix: "lazarus-heartbeat-" }]);
      expect(pattern.detail.state).toEqual({ value: [state] });
      if (state === "OK") expect(pattern.detail.previousState).toEqual({ value: ["ALARM"] });
      const targets = rule.Properties!.Targets as { Arn: unknown; DeadLetterConfig?: unknown }[];
      expect(sorted(targets.map((t) => flat(t.Arn)))).toEqual(triggerIds(state));
      for (const t of targets) expect(t.DeadLetterConfig).toBeDefined();
    }
  });

  it("scheduled functions run on their schedule, with a DLQ", () => {
    const sweeper = EXTRA_FUNCTIONS.find((f) => f.role === "scheduled")!;
    const rules = resourcesOfType(s, "AWS::Events::Rule").filter(
      ([, r]) =>
        flat((r.Properties!.Targets as { Arn: unknown }[])[0]!.Arn) ===
        `<${functionResource(sweeper)[0]}.Arn>`,
    );
    expect(rules).toHaveLength(1);
    const p = rules[0]![1].Properties!;
    expect(p.ScheduleExpression).toBe(sweeper.schedule);
    const targets = p.Targets as { Arn: unknown; DeadLetterConfig?: unknown }[];
    expect(targets.map((t) => flat(t.Arn))).toEqual([`<${functionResource(sweeper)[0]}.Arn>`]);
    expect(targets[0]!.DeadLetterConfig).toBeDefined();
  });
});

describe("the template as a whole", () => {
  it("has no circular reference between resources", () => {
    const ids = new Set(Object.keys(s.json.Resources));
    const edges = new Map<string, string[]>();
    for (const [id, r] of Object.entries(s.json.Resources)) {
      const refs = new Set<string>(asArray(r.DependsOn ?? []));
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === "object") {
          const o = node as Record<string, unknown>;
          if (typeof o.Ref === "string" && ids.has(o.Ref)) refs.add(o.Ref);
          const getAtt = o["Fn::GetAtt"];
          if (Array.isArray(getAtt) && ids.has(getAtt[0] as string)) refs.add(getAtt[0] as string);
          for (const m of JSON.stringify(o["Fn::Sub"] ?? "").matchAll(/\$\{([A-Za-z0-9]+)/g)) {
            if (ids.has(m[1]!)) refs.add(m[1]!);
          }
          Object.values(o).forEach(walk);
        }
      };
      walk(r.Properties);
      edges.set(id, [...refs]);
    }
    const state = new Map<string, "visiting" | "done">();
    const cycles: string[] = [];
    const visit = (id: string, path: string[]): void => {
      if (state.get(id) === "done") return;
      if (state.get(id) === "visiting") {
        cycles.push([...path, id].join(" -> "));
        return;
      }
      state.set(id, "visiting");
      for (const next of edges.get(id) ?? []) visit(next, [...path, id]);
      state.set(id, "done");
    };
    for (const id of ids) visit(id, []);
    expect(cycles).toEqual([]);
  });
});

describe("with only the shared definitions", () => {
  let plain: Synthesized;
  beforeAll(() => {
    plain = synth({ config: { hosts: [] } });
  });

  it("leaves out what no function asks for: no API, no alarm rules, no timers, no alarms without hosts", () => {
    const roles = new Set(realSpecs.map((f) => f.role));
    if (!roles.has("api")) expect(resourcesOfType(plain, "AWS::ApiGateway::RestApi")).toEqual([]);
    if (!roles.has("trigger") && !roles.has("scheduled")) {
      expect(resourcesOfType(plain, "AWS::Events::Rule")).toEqual([]);
    }
    expect(
      resourcesOfType(plain, "AWS::CloudWatch::Alarm").filter(([, a]) =>
        String(a.Properties!.AlarmName).includes("-heartbeat-"),
      ),
    ).toEqual([]);
    expect(resourcesOfType(plain, "AWS::Lambda::Function")).toHaveLength(realSpecs.length);
  });
});
