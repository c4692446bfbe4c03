/**
 * One process's `/proc/<pid>/stat` (proc(5)), for the local cloud's and the bench's readers of /proc. The
 * command name (field 2) may hold spaces and parentheses, so the fields are counted after its last ")".
 */
import { readFileSync } from "node:fs";

/** Field N of proc(5)'s numbering is at index N - 3 (the state, field 3, first). */
export const STAT = {
  state: 0,
  pgrp: 2,
  utime: 11,
  stime: 12,
  cutime: 13,
  cstime: 14,
  starttime: 19,
} as const;

/** The fields after the command name of a stat line as read. */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The process's stat fields (`STAT` indexes them); undefined when there is no such process (any more). */
export function procStatFields(pid: number | string): string[] | undefined {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}
