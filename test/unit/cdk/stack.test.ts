/**
 * The synthesized template against the shared definitions: tables equal the local cloud's CreateTable
 * inputs, one function per spec with its own least-privilege role, each state machine's substitutions
 * point at functions and machines of the same template, the API is IAM-only, heartbeat alarms and
 * their rules follow shared/definitions/heartbeat.ts, and nothing refers to itself in a cycle.
 */

import { beforeAll, describe, expect, it } from "vitest";
import { hostAlarmNamePatterns, tableActions } from "#cdk/access-policy.js";
import { API_ACCESS, executeApiResources } from "#shared/definitions/api-access.js";
import { REQUEST_TOO_LARGE } from "#shared/definitions/api-gateway.js";
import { ALL_FUNCTIONS, type FunctionSpec } from "#shared/definitions/functions.js";
import {
  HEARTBEAT_MISSED_PERIODS,
  heartbeatAlarmNamePrefix,
  heartbeatLogGroupName,
} from "#shared/definitions/heartbeat.js";
import { HOST_NAME_TAG_KEY, KVM_HOST_TAG } from "#shared/definitions/host-tag.js";
import {
  deployedName,
  placeholdersOf,
  readDefinition,
  STATE_MACHINES,
} from "#shared/definitions/state-machines.js";
import { HEARTBEAT_INTERVAL_SECONDS } from "#shared/domain/fencing.js";
import { toCreateTableInput } from "#shared/store/create-tables.js";
import { TABLE_IDS, TABLE_SPECS, type TableId, tableEnvVar } from "#shared/store/tables.js";
import {
  asArray,
  EXTENDED_FUNCTIONS,
  EXTRA_FUNCTIONS,
  flat,
  functionResource as functionResourceOf,
  logicalIdOf,
  PARENT_MACHINE,
  type Resource,
  resourcesOfType,
  roleStatements as roleStatementsOf,
  type Statement,
  type Synthesized,
  synth,
  synthExtended,
} from "./synth.js";

const sorted = (xs: Iterable<string>) => [...xs].sort();

const realSpecs = ALL_FUNCTIONS;
const specs: FunctionSpec[] = EXTENDED_FUNCTIONS;
let s: Synthesized;
beforeAll(() => {
  s = synthExtended();
});

const functionResource = (spec: FunctionSpec): [string, Resource] => functionResourceOf(s, spec);
const roleStatements = (fn: Resource): Statement[] => roleStatementsOf(s, fn);

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
      // Stack traces through the bundle's source map (BUNDLING.sourceMap).
      expect(vars.NODE_OPTIONS).toBe("--enable-source-maps");
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
        const level = expected[tableId as keyof typeof expected]!;
        expect(sorted(actions), `${spec.id} ${tableId}`).toEqual(
          sorted(tableActions(tableId as TableId, level)),
        );
      }
    }
  });

  it("ssm:SendCommand only with host documents: the stack's own documents, and tagged hosts only", () => {
    let checked = 0;
    for (const spec of specs) {
      const sendCommand = withAction(roleStatements(functionResource(spec)[1]), "ssm:SendCommand");
      if (!spec.access.hostDocuments?.length) {
        expect(sendCommand, spec.id).toEqual([]);
        continue;
      }
      checked++;
      const [documents, hosts] = [
        sendCommand.filter((st) => resourcesOf(st).some((r) => r.includes(":document/"))),
        sendCommand.filter((st) => !resourcesOf(st).some((r) => r.includes(":document/"))),
      ];
      expect(sorted(documents.flatMap(resourcesOf)), spec.id).toEqual(
        sorted(
          spec.access.hostDocuments.map(
            (id) => `arn:<AWS::Partition>:ssm:eu-west-1:123456789012:document/lazarus-${id}`,
          ),
        ),
      );
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

  it("a body over the payload limit: nova's 413 from the gateway itself, with the version headers the local API sets", () => {
    const [, found] = resourcesOfType(s, "AWS::ApiGateway::GatewayResponse").find(
      ([, r]) => r.Properties!.ResponseType === "REQUEST_TOO_LARGE",
    )!;
    const p = found.Properties!;
    expect(p.StatusCode).toBe("413");
    expect(JSON.parse((p.ResponseTemplates as Record<string, string>)["application/json"]!)).toEqual(
      REQUEST_TOO_LARGE.body,
    );
    expect(p.ResponseParameters).toEqual({
      "gatewayresponse.header.openstack-api-version": `'${REQUEST_TOO_LARGE.headers["openstack-api-version"]}'`,
      "gatewayresponse.header.x-openstack-nova-api-version": `'${REQUEST_TOO_LARGE.headers["x-openstack-nova-api-version"]}'`,
      "gatewayresponse.header.vary": `'${REQUEST_TOO_LARGE.headers.vary}'`,
    });
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

  describe("operator policies: execute-api:Invoke on this API by method and route, nothing else", () => {
    const policy = (name: string) => {
      const found = resourcesOfType(s, "AWS::IAM::ManagedPolicy").find(
        ([, p]) => p.Properties!.ManagedPolicyName === name,
      );
      expect(found, name).toBeDefined();
      const statements = (found![1].Properties!.PolicyDocument as { Statement: Statement[] }).Statement;
      expect(statements.flatMap((st) => asArray(st.Action))).toEqual(["execute-api:Invoke"]);
      expect(statements.map((st) => st.Effect)).toEqual(["Allow"]);
      // `.../<api>/v1/<METHOD>/<path>`: the method and path after this API's stage.
      return statements.flatMap(resourcesOf).map((r) => {
        const m = /:execute-api:eu-west-1:123456789012:<api.*>\/v1\/([A-Z*]+)(\/.*)$/.exec(r);
        expect(m, r).not.toBeNull();
        return `${m![1]} ${m![2]}`;
      });
    };

    it("exactly two managed policies: the operator's and the read-only operator's", () => {
      expect(
        sorted(
          resourcesOfType(s, "AWS::IAM::ManagedPolicy").map(([, p]) =>
            String(p.Properties!.ManagedPolicyName),
          ),
        ),
      ).toEqual(["lazarus-operator", "lazarus-operator-read-only"]);
    });

    it("read-only: each route api-access.ts gives the read role, and no route that acts", () => {
      const granted = policy("lazarus-operator-read-only");
      expect(sorted(granted)).toEqual(sorted(executeApiResources("read").map((r) => r.replace("/", " /"))));
      expect(granted.every((g) => g.startsWith("GET "))).toBe(true);
    });

    it("operator: every route of api-access.ts by its method and path; never any method", () => {
      const granted = policy("lazarus-operator");
      expect(granted.some((g) => g.startsWith("* "))).toBe(false);
      expect(sorted(granted)).toEqual(
        sorted(executeApiResources("operate").map((r) => r.replace("/", " /"))),
      );
      // Each route's paths, with and without a version prefix, are matched by its grant (IAM's `*`); a route
      // that acts is never matched by the read-only policy.
      const iamMatch = (grant: string, value: string) =>
        new RegExp(`^${grant.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);
      const readOnly = policy("lazarus-operator-read-only");
      for (const r of API_ACCESS.filter((x) => x.pattern !== "/")) {
        const concrete = r.pattern.replace(/\{\w+\}/g, "x-1");
        for (const path of [concrete, `/v2${concrete}`, `/v2.1${concrete}`]) {
          expect(
            granted.some((g) => iamMatch(g, `${r.method} ${path}`)),
            `${r.method} ${path}`,
          ).toBe(true);
        }
        if (r.access === "operate") {
          expect(
            readOnly.some((g) => iamMatch(g, `${r.method} ${concrete}`)),
            `${r.method} ${concrete}`,
          ).toBe(false);
        }
      }
    });
  });
});

describe("host failure", () => {
  it("no per-host alarm in the template: registration creates each (the stack's missed periods), deletes it on deregistration", () => {
    const alarms = resourcesOfType(s, "AWS::CloudWatch::Alarm").map(([, a]) =>
      String(a.Properties!.AlarmName),
    );
    expect(alarms.filter((n) => n.startsWith(heartbeatAlarmNamePrefix("lazarus")))).toEqual([]);
    const register = realSpecs.find((f) => f.id === "inventory-register-host")!;
    const env = (
      functionResourceOf(s, register)[1].Properties!.Environment as {
        Variables: Record<string, string>;
      }
    ).Variables;
    expect(env.LAZARUS_HEARTBEAT_MISSED_PERIODS).toBe(String(HEARTBEAT_MISSED_PERIODS));
    expect(env.LAZARUS_HEARTBEAT_INTERVAL_SECONDS).toBe(String(HEARTBEAT_INTERVAL_SECONDS));
    expect(env.LAZARUS_HOST_PROBE_DEADLINE_MS).toBe("45000");
    expect(env.LAZARUS_EVACUATION_POLICY).toBe("all");
    expect(env.LAZARUS_EVACUATION_MAX_CONCURRENCY).toBe("16");
    // Registration and deregistration may put and delete exactly those alarms, and tag nodes with the name only.
    for (const id of ["inventory-register-host", "inventory-deregister-host"]) {
      const spec = realSpecs.find((f) => f.id === id)!;
      const statements = roleStatementsOf(s, functionResourceOf(s, spec)[1]);
      const alarmGrant = statements.find((st) => asArray(st.Action).includes("cloudwatch:PutMetricAlarm"))!;
      expect(sorted(asArray(alarmGrant.Action))).toEqual([
        "cloudwatch:DeleteAlarms",
        "cloudwatch:PutMetricAlarm",
      ]);
      expect(
        resourcesOf(alarmGrant)
          .map((r) => r.replace(/^.*:alarm:/, ""))
          .sort(),
      ).toEqual(sorted(hostAlarmNamePatterns("lazarus")));
      const tagGrant = statements.find((st) => asArray(st.Action).includes("ssm:AddTagsToResource"))!;
      expect(tagGrant.Condition).toMatchObject({
        "ForAllValues:StringEquals": { "aws:TagKeys": [HOST_NAME_TAG_KEY] },
      });
    }
  });

  it("the hosts' heartbeat log group, with the stack's retention", () => {
    const groups = resourcesOfType(s, "AWS::Logs::LogGroup").filter(
      ([, g]) => g.Properties!.LogGroupName === heartbeatLogGroupName("lazarus"),
    );
    expect(groups).toHaveLength(1);
    expect(groups[0]![1].Properties!.RetentionInDays).toBe(30);
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
