/**
 * The local cloud's stand-in for systemd's `User=`: a Node preload (`node --import <this file> <program>`)
 * for the host agent (lazarus-host) of a local host. Node starts as root, loads this file (root may read
 * the repo), becomes the host's user ($LAZARUS_LOCAL_RUN_AS_UID/GID, removed from the environment), and only
 * then loads the program, which must be readable by that user (the fleet installs the bundle in the run
 * folder). The program itself is the packaged one, unchanged.
 *
 * It also ends the process when the process that started it is gone (nothing outlives the local cloud),
 * as the SSM agent's prologue does (drop-privileges.ts). Plain Node (type stripping): no loader needed.
 */
const uid = Number(process.env.LAZARUS_LOCAL_RUN_AS_UID);
const gid = Number(process.env.LAZARUS_LOCAL_RUN_AS_GID);
delete process.env.LAZARUS_LOCAL_RUN_AS_UID;
delete process.env.LAZARUS_LOCAL_RUN_AS_GID;
if (process.getuid?.() === 0) {
  if (!(uid > 0) || !(gid > 0)) {
    process.stderr.write("as-host-user: LAZARUS_LOCAL_RUN_AS_UID/GID must name the host's user\n");
    process.exit(2);
  }
  process.setgroups?.([gid]);
  process.setgid?.(gid);
  process.setuid?.(uid);
}
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 500).unref();
