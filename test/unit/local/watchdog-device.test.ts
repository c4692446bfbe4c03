/**
 * The simulated watchdog device (local/machine/watchdog-device.ts) against the host agent's feeder
 * (host-agent/watchdog.ts), with the kernel's semantics: opened = armed (state "active" in its sysfs-like
 * folder), every write a ping, unfed for the timeout = expiry (the machine resets), closed without 'V' =
 * still counting (also when the process holding it is SIGKILLed), 'V' then close = disarmed, a device whose
 * writes fail = not fed = expiry. Timings are checked by the clock against the last feed.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { heartbeatValue, readWatchdogStatus, WatchdogFeeder } from "#host-agent/watchdog.js";
import { WatchdogDevice } from "#local/machine/watchdog-device.js";

const TIMEOUT_S = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir: string;
let device: WatchdogDevice;
let expiries: number[];
/** What the device's sysfs said at each expiry (what a host process still alive then would read). */
let expiryStatus: ReturnType<typeof readWatchdogStatus>[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "lz-wd-"));
  expiries = [];
  expiryStatus = [];
  device = new WatchdogDevice({
    dir,
    ownerUid: process.getuid?.() ?? 0,
    timeoutSeconds: TIMEOUT_S,
    onExpire: () => {
      expiries.push(Date.now());
      expiryStatus.push(readWatchdogStatus(device.sysfsDir));
    },
    log: () => undefined,
    pollMs: 20,
  });
  device.start();
});

afterEach(() => {
  device.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(what: string, ok: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

describe("the simulated watchdog device with the feeder", () => {
  it("starts disarmed; opened it is armed and its sysfs says so; fed, it never expires", async () => {
    expect(readWatchdogStatus(device.sysfsDir)).toEqual({ active: false, timeoutSeconds: TIMEOUT_S });
    const feeder = new WatchdogFeeder(device.devicePath);
    expect(heartbeatValue(readWatchdogStatus(device.sysfsDir), feeder.armedByUs)).toBe(0);
    feeder.feed();
    await waitFor("armed", () => device.state === "active");
    expect(readFileSync(join(device.sysfsDir, "state"), "utf8")).toBe("active\n");
    expect(heartbeatValue(readWatchdogStatus(device.sysfsDir), feeder.armedByUs)).toBe(TIMEOUT_S);
    // Armed by another holder, the same device proves nothing for this process.
    expect(
      heartbeatValue(readWatchdogStatus(device.sysfsDir), new WatchdogFeeder(device.devicePath).armedByUs),
    ).toBe(0);
    for (let i = 0; i < 12; i++) {
      await sleep(200);
      feeder.feed();
    }
    expect(expiries).toEqual([]);
    feeder.disarm();
  });

  it("closed without the magic character it keeps counting and expires one timeout after the last feed", async () => {
    const feeder = new WatchdogFeeder(device.devicePath);
    feeder.feed();
    await waitFor("armed", () => device.state === "active");
    feeder.feed();
    const lastFeed = Date.now();
    feeder.abandon();
    await waitFor("expiry", () => expiries.length > 0);
    expect(expiries[0]! - lastFeed).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 50);
    expect(expiries[0]! - lastFeed).toBeLessThan(TIMEOUT_S * 1000 + 500);
  });

  it("magic close ('V' then close) disarms it: no expiry, state inactive", async () => {
    const feeder = new WatchdogFeeder(device.devicePath);
    feeder.feed();
    await waitFor("armed", () => device.state === "active");
    feeder.disarm();
    expect(feeder.armedByUs).toBe(false);
    await waitFor("disarmed", () => device.state === "inactive");
    await sleep(TIMEOUT_S * 1000 * 2);
    expect(expiries).toEqual([]);
    expect(readWatchdogStatus(device.sysfsDir).active).toBe(false);
  });

  it("the process holding it SIGKILLed: not disarmed, it expires", async () => {
    const holder = spawn(
      process.execPath,
      [
        "-e",
        `const fs=require("fs");const fd=fs.openSync(${JSON.stringify(device.devicePath)},fs.constants.O_WRONLY|fs.constants.O_NONBLOCK);setInterval(()=>fs.writeSync(fd,"."),100);`,
      ],
      { stdio: "ignore" },
    );
    await waitFor("armed", () => device.state === "active");
    await sleep(300);
    holder.kill("SIGKILL");
    const killedAt = Date.now();
    await waitFor("expiry", () => expiries.length > 0);
    expect(expiries[0]! - killedAt).toBeLessThan(TIMEOUT_S * 1000 + 500);
  });

  it("a device whose writes fail: the feed throws, the device is not fed and expires", async () => {
    const feeder = new WatchdogFeeder(device.devicePath);
    feeder.feed();
    await waitFor("armed", () => device.state === "active");
    feeder.feed();
    const lastFeed = Date.now();
    device.breakFeeds();
    expect(() => feeder.feed()).toThrow(/EPIPE/);
    expect(feeder.open).toBe(false);
    // Lost, not disarmed: it counts from this process's last feed, and the heartbeats still say so.
    expect(heartbeatValue(readWatchdogStatus(device.sysfsDir), feeder.armedByUs)).toBe(TIMEOUT_S);
    expect(() => feeder.feed()).toThrow(/ENXIO/); // opening it again fails too
    await waitFor("expiry", () => expiries.length > 0);
    expect(expiries[0]! - lastFeed).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 50);
    // At its expiry the device halts but still says "active": the machine kills the host's processes first
    // (a real reset stops them at once), so none can send a heartbeat saying it was disarmed; then stops it.
    expect(expiryStatus[0]).toEqual({ active: true, timeoutSeconds: TIMEOUT_S });
    await sleep(200);
    expect(expiries).toHaveLength(1); // halted: no second expiry
    expect(heartbeatValue(readWatchdogStatus(device.sysfsDir), feeder.armedByUs)).toBe(TIMEOUT_S);
    device.stop();
    expect(device.state).toBe("inactive"); // the machine resets: the device starts disarmed after the boot
    expect(readWatchdogStatus(device.sysfsDir).active).toBe(false);
  });
});
