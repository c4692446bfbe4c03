/**
 * The DynamoDB tables from TABLE_SPECS, the definitions the local cloud creates its tables from. Every
 * table holds state that a lost flow cannot rebuild (claims, bindings, migrations): point-in-time
 * recovery, deletion protection and RETAIN on all of them.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  Table,
  TableEncryption,
} from "aws-cdk-lib/aws-dynamodb";
import { Construct } from "constructs";
import {
  type IndexSpec,
  type KeyAttribute,
  TABLE_IDS,
  TABLE_SPECS,
  type TableId,
} from "#shared/store/tables.js";

/** An index's projection as the CDK takes it (the same choice create-tables.ts makes locally). */
function projection(index: IndexSpec) {
  const p = index.projection ?? "ALL";
  if (p === "ALL") return { projectionType: ProjectionType.ALL };
  if (p === "KEYS_ONLY") return { projectionType: ProjectionType.KEYS_ONLY };
  return { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...p.include] };
}

const attribute = (a: KeyAttribute) => ({
  name: a.name,
  type: a.type === "S" ? AttributeType.STRING : AttributeType.NUMBER,
});

export class LazarusTables extends Construct {
  readonly byId: Record<TableId, ITable>;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const byId = {} as Record<TableId, ITable>;
    for (const tableId of TABLE_IDS) {
      const spec = TABLE_SPECS[tableId];
      // Names are left to CloudFormation: a retained table would block a fixed name on a new stack.
      const table = new Table(this, tableId, {
        partitionKey: attribute(spec.partitionKey),
        ...(spec.sortKey ? { sortKey: attribute(spec.sortKey) } : {}),
        billingMode: BillingMode.PAY_PER_REQUEST,
        encryption: TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
        // Records that expire (the API's idempotency answers) are deleted by DynamoDB itself.
        ...(spec.timeToLiveAttribute ? { timeToLiveAttribute: spec.timeToLiveAttribute } : {}),
      });
      for (const index of spec.globalIndexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.indexName,
          partitionKey: attribute(index.partitionKey),
          ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
          ...projection(index),
        });
      }
      byId[tableId] = table;
    }
    this.byId = byId;
  }
}
