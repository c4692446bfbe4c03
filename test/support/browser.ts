/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * A real browser for the console's tests and its screenshot: Debian's chromium, headless, driven by
 * puppeteer-core (which downloads no browser). One browser per test file (closed in afterAll); each user
 * signs in in a context of their own. Every page's console errors, failed requests and error answers are
 * collected: a test asserts there were none, but for refusals it provoked on purpose (`expectRefusal`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type BrowserContext, type Page } from "puppeteer-core";
import type { LocalCloud } from "#local/cloud.js";

export const CHROMIUM = "/usr/bin/chromium";
/** A laptop screen: every view must be readable without scrolling at this size. */
export const LAPTOP = { width: 1366, height: 768 } as const;

/**
 * Headless chromium as root on this machine: no sandbox, and none of the background networking a closed
 * network refuses (/work/.library/env/machines/node.md, "Known to work").
 */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  `--window-size=${LAPTOP.width},${LAPTOP.height}`,
];

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "lazarus-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: FLAGS,
    defaultViewport: LAPTOP,
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What went wrong in a page: console errors, requests that failed, answers 4xx/5xx not expected. */
export interface PageProblems {
  list(): string[];
  /** A refusal the test provokes on purpose: `status` from a URL containing `urlPart` is not a problem. */
  expectRefusal(urlPart: string, status: number): void;
}

export function watchProblems(page: Page): PageProblems {
  const problems: string[] = [];
  const expected: { urlPart: string; status: number }[] = [];
  const isExpected = (url: string, status: number) =>
    expected.some((e) => url.includes(e.urlPart) && e.status === status);
  const refused = new Set<string>();
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    // Chrome reports an error answer as a console error too ("Failed to load resource: ... 409"): one the
    // test expects is not a problem (its response is checked below).
    const url = msg.location().url ?? "";
    if (/Failed to load resource: the server responded with a status of (\d+)/.test(text) && refused.has(url))
      return;
    problems.push(`console error: ${text} (${url})`);
  });
  page.on("pageerror", (err) =>
    problems.push(`page error: ${err instanceof Error ? err.message : String(err)}`),
  );
  page.on("requestfailed", (req) =>
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText ?? "?"}`),
  );
  page.on("response", (res) => {
    if (res.status() < 400) return;
    if (isExpected(res.url(), res.status())) {
      refused.add(res.url());
      return;
    }
    problems.push(`error answer: ${res.request().method()} ${res.url()}: ${res.status()}`);
  });
  return {
    list: () => [...problems],
    expectRefusal: (urlPart, status) => expected.push({ urlPart, status }),
  };
}

/**
 * Signs `username` in to the cloud's console in a context of its own (its own session storage), through the
 * local user pool's sign-in page, and waits until the console reads the API.
 */
export async function signIn(
  browser: Browser,
  cloud: LocalCloud,
  username: string,
): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const c = cloud.console;
  if (!c) throw new Error("the cloud serves no console (startLocalCloud's console option)");
  const user = c.users.find((u) => u.username === username);
  if (!user) throw new Error(`no console user ${username}`);
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  // Every wait and locator of the page waits for its event up to 120 s, not puppeteer's 30 s: on a 2-core
  // machine with ten host files at once, a poll's answer and its render took longer (fresh clones failed
  // there three times on 2026-12-07, each at a different click). A bound, not a pace: nothing waits longer
  // than its event.
  page.setDefaultTimeout(120_000);
  const problems = watchProblems(page);
  await page.goto(c.url, { waitUntil: "domcontentloaded" });
  await page.locator("[data-signin]").click();
  await page.waitForSelector("#username");
  await page.locator("#username").fill(user.username);
  await page.locator("#password").fill(user.password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.locator("button[type=submit]").click(),
  ]);
  await page.waitForFunction(() => document.querySelector("[data-live]")?.textContent?.startsWith("Live"), {
    timeout: 120_000,
  });
  return { context, page, problems };
}

/**
 * Shows a view by its tab, as a user does (a hash change: no reload). A live page can move under the
 * pointer between the locator's last look and the click (a row or a banner rendered by a poll on a loaded
 * machine), and the click then lands elsewhere: as a user would, it clicks again while the view has not
 * changed, until the hash says the view is shown (or 120 s).
 */
export async function openTab(page: Page, tab: "fleet" | "incidents" | "instances" | "work"): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    await page
      .locator(`[data-tab=${tab}]`)
      .setTimeout(Math.max(1, deadline - Date.now()))
      .click();
    try {
      await page.waitForFunction((t) => location.hash.startsWith(`#${t}`), { timeout: 10_000 }, tab);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
}

/** Waits until `fn` (run in the page) returns a truthy value, and returns it. */
export async function waitInPage<T>(page: Page, fn: () => T, timeoutMs: number): Promise<T> {
  const handle = await page.waitForFunction(fn, { timeout: timeoutMs, polling: 250 });
  return (await handle.jsonValue()) as T;
}

/** Whether the page's document is taller or wider than the window (a view that needs scrolling). */
export async function needsScrolling(page: Page): Promise<boolean> {
  return page.evaluate(
    () =>
      document.documentElement.scrollHeight > window.innerHeight + 1 ||
      document.documentElement.scrollWidth > window.innerWidth + 1,
  );
}
