"""Drives the Lazarus API with Debian's python3-novaclient, as an operator's script would.

usage: nova_driver.py URL VERSION COMMAND [ARGS...]
  list | show SERVER | evacuate SERVER [HOST] | rebuild SERVER IMAGE | migrations SERVER | force-down HOST
  boot NAME FLAVOR IMAGE | delete SERVER | reboot SERVER SOFT|HARD | console SERVER | lock SERVER
  unlock SERVER | reset-state SERVER active|error
Prints one JSON document; exits 1 with the client's exception on stderr.
The session is keystoneauth1's no-auth plugin pointed at URL/v2.1, nothing else changed.
"""
import json
import sys
import time

from keystoneauth1 import session
from keystoneauth1.noauth import NoAuth
from novaclient import api_versions
from novaclient import client
from novaclient import utils


def main(url, version, command, *args):
    nova = client.Client(version, session=session.Session(auth=NoAuth(endpoint=url + "/v2.1")))

    def find(name_or_id):
        return utils.find_resource(nova.servers, name_or_id)

    def server_doc(s):
        return {
            "id": s.id,
            "name": s.name,
            "status": s.status,
            "host": getattr(s, "OS-EXT-SRV-ATTR:host"),
            "vm_state": getattr(s, "OS-EXT-STS:vm_state"),
            "task_state": getattr(s, "OS-EXT-STS:task_state"),
        }

    if command == "list":
        return [server_doc(s) for s in nova.servers.list()]
    if command == "show":
        return server_doc(find(args[0]))
    if command == "evacuate":
        server = find(args[0])
        host = args[1] if len(args) > 1 else None
        resp, body = server.evacuate(host=host)
        return {"status": resp.status_code, "migration": resp.headers.get("x-lazarus-migration-id")}
    if command == "rebuild":
        server = find(args[0]).rebuild(args[1])
        return server_doc(server)
    if command == "migrations":
        return [
            {"id": m.id, "status": m.status, "type": m.migration_type, "source": m.source_compute, "dest": m.dest_compute}
            for m in nova.migrations.list(instance_uuid=find(args[0]).id)
        ]
    def wait(server_id, done, timeout=180):
        deadline = time.time() + timeout
        while True:
            try:
                s = nova.servers.get(server_id)
            except Exception as e:  # deleted: NotFound
                if done(None):
                    return None
                raise e
            if done(s):
                return s
            if time.time() > deadline:
                raise SystemExit("timed out waiting for %s: %s" % (server_id, s.status))
            time.sleep(0.5)

    def settled(s):
        return s is not None and getattr(s, "OS-EXT-STS:task_state") is None and s.status != "BUILD"

    if command == "boot":
        name, flavor, image = args
        kwargs = {"nics": "auto"} if nova.api_version >= api_versions.APIVersion("2.37") else {}
        created = nova.servers.create(name, image, nova.flavors.find(name=flavor), **kwargs)
        return server_doc(wait(created.id, settled))
    if command == "delete":
        server = find(args[0])
        server.delete()
        wait(server.id, lambda s: s is None)
        return {"deleted": server.id}
    if command == "reboot":
        server = find(args[0])
        server.reboot(reboot_type=args[1])
        return server_doc(wait(server.id, settled))
    if command == "console":
        return {"output": find(args[0]).get_console_output()}
    if command in ("lock", "unlock"):
        server = find(args[0])
        getattr(server, command)()
        return {"locked": getattr(nova.servers.get(server.id), "locked", None)}
    if command == "reset-state":
        server = find(args[0])
        nova.servers.reset_state(server, args[1])
        return server_doc(nova.servers.get(server.id))
    if command == "force-down":
        services = nova.services.list(host=args[0], binary="nova-compute")
        s = nova.services.force_down(services[0].id, True)
        return {"host": s.host, "forced_down": s.forced_down}
    raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    try:
        print(json.dumps(main(*sys.argv[1:])))
    except Exception as e:  # the client's own error, for the test to read
        print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
