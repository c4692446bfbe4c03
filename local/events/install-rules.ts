/**
 * Installs a deployment's EventBridge rules (shared/definitions/rules.ts) on the local EventBridge endpoint,
 * each on the bus, with the pattern and the target the CDK stack gives it: a trigger function through the
 * local Lambda endpoint, or the page (the local SNS endpoint's topic).
 */
import { busName } from "#shared/definitions/events.js";
import { eventRules } from "#shared/definitions/rules.js";
import { deployedName } from "#shared/definitions/state-machines.js";
import type { EventsEndpoint } from "./events-endpoint.js";

export function installEventRules(events: EventsEndpoint, prefix: string, pageTopicArn: string): void {
  for (const rule of eventRules(prefix)) {
    events.putRule({
      name: rule.name,
      eventBusName: busName(rule.bus, prefix),
      eventPattern: rule.eventPattern,
      targets: [
        rule.target.kind === "function"
          ? { functionName: deployedName(prefix, rule.target.functionId) }
          : { topicArn: pageTopicArn },
      ],
    });
  }
}
