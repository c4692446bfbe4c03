/**
 * `npm run screenshot`: the console's pictures in docs/, taken from a real run. The demo's fleet (three
 * hosts, six instances on host-1) in a local cloud with the console; an operator signs in; host-1 loses
 * power; once its six instances run elsewhere, the incident view (the timeline, the Gantt of the
 * evacuation, the fence, the proof per instance) is written to docs/console-incident.png and the fleet
 * view to docs/console-fleet.png, at a laptop's 1366x768. Needs root (it starts local hosts).
 */
import { mkdirSync } from "node:fs";
import { startLocalCloud } from "#local/cloud.js";
import { DEMO_DOMAINS, DEMO_HOST_FAILURE, DEMO_HOSTS } from "#local/demo-fleet.js";
import { bootByAdoption } from "#local/fleet-domains.js";
import { PROJECT_ROOT } from "#shared/definitions/state-machines.js";
import { launchBrowser, openTab, signIn } from "#test/support/browser.js";

const DOCS = new URL("docs/", PROJECT_ROOT);
const say = (line: string) => process.stdout.write(`screenshot: ${line}\n`);

async function main(): Promise<number> {
  say("starting the local cloud with the console (3 hosts)");
  const cloud = await startLocalCloud({
    hosts: DEMO_HOSTS,
    retryIntervalScale: 0.1,
    hostCommandDeadlineMs: 30_000,
    hostFailure: DEMO_HOST_FAILURE,
    console: { pollMs: 1000 },
  });
  const browser = await launchBrowser();
  try {
    say("adopting the demo's instances");
    const instances = await bootByAdoption(cloud, DEMO_DOMAINS);
    const onHost1 = instances.filter((i) => i.host === "host-1");
    const { page, problems } = await signIn(browser.browser, cloud, "operator");
    say("host-1 loses power");
    await cloud.killHost("host-1");
    await openTab(page, "incidents");
    await page.waitForFunction(
      (n) =>
        document.querySelector("[data-incident-status=evacuated]") !== null &&
        document.querySelectorAll("[data-gantt-row=instance][data-status=SUCCEEDED]").length >= n &&
        document.querySelectorAll("[data-evacuation][data-outcome=evacuated]").length >= n,
      { timeout: 240_000, polling: 500 },
      onHost1.length,
    );
    mkdirSync(DOCS, { recursive: true });
    const incident = new URL("console-incident.png", DOCS).pathname;
    await page.screenshot({ path: incident });
    say(`wrote ${incident}`);
    await openTab(page, "fleet");
    await page.waitForSelector("[data-host=host-1][data-state=down]");
    const fleet = new URL("console-fleet.png", DOCS).pathname;
    await page.screenshot({ path: fleet });
    say(`wrote ${fleet}`);
    const seen = problems.list();
    if (seen.length) {
      say(`the page had problems:\n  ${seen.join("\n  ")}`);
      return 1;
    }
    return 0;
  } finally {
    await browser.close();
    await cloud.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
