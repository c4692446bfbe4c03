/**
 * A guest that shows whether it ever restarted, for the live-migration test (issue 32, outcome 1): its
 * disk's boot sector (SeaBIOS runs it) stores the TSC at boot as a boot id at 0x7e00 and counts timer
 * ticks (18.2 a second, `sti; hlt` between them: no busy loop) at 0x7e08. The host reads both from the
 * guest's memory through qemu's monitor (`xp`); a live migration keeps them (same boot id, the count goes
 * on), a restart makes a new boot id and counts from 0.
 */
import { chownSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalHost } from "#local/hosts/local-host.js";

/**
 * 16-bit real mode at 0x7c00:
 *   xor ax,ax; mov ds,ax; rdtsc; mov [0x7e00],eax; mov [0x7e04],edx; mov dword [0x7e08],0;
 *   sti; L: hlt; inc dword [0x7e08]; jmp L
 */
const CODE = "31C08ED80F3166A3007E668916047E66C706087E00000000FBF466FF06087EEBF8";

/** A 1 MiB disk whose boot sector is the ticker, as a qcow2 image `<imageCachePath>/<image>.qcow2` on `host`. */
export async function installTickerImage(host: LocalHost, image: string): Promise<void> {
  const code = Buffer.from(CODE, "hex");
  const disk = Buffer.alloc(1024 * 1024);
  code.copy(disk, 0);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const raw = join(host.imageCachePath, `${image}.raw`);
  writeFileSync(raw, disk);
  chownSync(raw, host.uid, host.gid);
  const out = join(host.imageCachePath, `${image}.qcow2`);
  const r = await host.runAs("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, out]);
  rmSync(raw, { force: true });
  if (r.exitCode !== 0) throw new Error(`qemu-img convert on ${host.name}: ${r.stderr}`);
}

export interface Ticker {
  /** The TSC when the guest booted (hex): a new one after a restart. */
  bootId: string;
  /** Timer ticks since it booted (18.2 per second of the guest's time). */
  ticks: number;
}

/** The ticker's boot id and count, read from the guest's memory on `host` (null: not readable there). */
export async function readTicker(host: LocalHost, uuid: string): Promise<Ticker | null> {
  const r = await host.virsh(["qemu-monitor-command", uuid, "--hmp", "xp /3wx 0x7e00"], { allowFail: true });
  const m = /:\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/i.exec(r.stdout);
  if (r.exitCode !== 0 || !m) return null;
  return { bootId: `${m[2]}${m[1]}`, ticks: Number.parseInt(m[3]!, 16) };
}
