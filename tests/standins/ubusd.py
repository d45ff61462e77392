"""A fake ubusd, derived from openwrt/ubus (ubusd_main.c, ubusd_proto.c,
ubusd_obj.c, ubusd_acl.c at 3cc98db), as thin as what dprive and its tests
meet of it: objects published by name, lookup, calls forwarded to the
publisher, and the ACLs of /usr/share/acl.d.

    python tests/standins/ubusd.py -s SOCKET -A ACL_DIR [--superuser-uid UID]

The wire is ours (one JSON object a line, see tests/standins/ubus.py for the
publisher's side); what ubusd decides is the real one:
- ACL files are read at start and on SIGHUP only (ubusd_main.c main() and
  sighup_handler() -> ubusd_acl_load()); an ACL file installed later counts
  only after `kill -HUP`.
- A client's uid comes from SO_PEERCRED (ubusd_acl_init_client()); uid 0
  passes every check (ubusd_acl_check(): `if (!cl->uid) return 0`).
- Publishing a name no loaded ACL allows fails with UBUS_STATUS_INVALID_ARGUMENT,
  as does a name already taken (ubusd_create_object() returns NULL, and
  ubusd_handle_add_object() answers INVALID_ARGUMENT for both): python3-ubus
  says "ubus error occured: Invalid argument".
- A caller that no ACL gives access to any method of an object does not see
  it in a lookup (ubusd_send_obj()), and an invoke it may not make is
  UBUS_STATUS_PERMISSION_DENIED (ubusd_handle_invoke()).
--superuser-uid stands for "the uid that is root" when the tests do not run
as root (then ACL files must belong to that uid instead of root).

Callers (the role of `ubus call` and rpcd) send {"object", "method", "args"}
and get {"status", "reply", "replies"} (reply: the first data message, as
LuCI's rpc layer uses it); {"op": "lookup", "path"} is `ubus list`.
"""

import argparse
import asyncio
import glob
import grp
import json
import os
import pwd
import signal
import socket
import stat
import struct
import sys

STATUS_OK, STATUS_INVALID_ARGUMENT, STATUS_NOT_FOUND = 0, 2, 4
STATUS_PERMISSION_DENIED, STATUS_TIMEOUT = 6, 7
INVOKE_TIMEOUT_S = 30          # `ubus call`'s default -t 30


def log(text):
    sys.stderr.write("ubusd: %s\n" % text)
    sys.stderr.flush()


# -- ACLs (ubusd_acl.c) ---------------------------------------------------------

class AclEntry:
    """One struct ubusd_acl_obj: an object name (a trailing '*' makes it a
    prefix, ubusd_acl_alloc_obj()) granted to one uid or one gid."""

    def __init__(self, name, uid, gid):
        self.partial = name.endswith("*")
        self.key = name[:-1] if self.partial else name
        self.uid, self.gid = uid, gid
        self.publish = False
        self.methods = None

    def matches(self, obj):
        return obj == self.key or (self.partial and obj.startswith(self.key))

    def matches_cred(self, uid, gids):
        """ubusd_acl_match_cred()."""
        return (self.uid != -1 and uid == self.uid) or (self.gid != -1 and self.gid in gids)


def acl_entries(doc):
    """ubusd_acl_file_add(): the entries of one parsed ACL file. Only what
    dprive's file uses is stood in: user/group, publish, access.methods."""
    if not isinstance(doc, dict):
        return []
    uid = gid = -1
    if isinstance(doc.get("user"), str):
        try:
            uid = pwd.getpwnam(doc["user"]).pw_uid
        except KeyError:
            uid = 0              # as ubusd does for an unknown user: only root then
    elif isinstance(doc.get("group"), str):
        try:
            gid = grp.getgrnam(doc["group"]).gr_gid
        except KeyError:
            gid = 0
    else:
        return []
    entries = []
    access = doc.get("access")
    if isinstance(access, dict):
        for name, spec in access.items():
            methods = spec.get("methods") if isinstance(spec, dict) else None
            if name and isinstance(methods, list):   # ubusd_acl_add_access()
                entry = AclEntry(name, uid, gid)
                entry.methods = methods
                entries.append(entry)
    if isinstance(doc.get("publish"), list):
        for name in doc["publish"]:
            if isinstance(name, str) and name:        # ubusd_acl_add_publish()
                entry = AclEntry(name, uid, gid)
                entry.publish = True
                entries.append(entry)
    return entries


def load_acls(acl_dir, superuser_uid, previous):
    """ubusd_acl_load(): every regular *.json owned by root and not writable by
    group or others. No file at all keeps what was loaded before (glob()
    fails and ubusd returns before vlist_update())."""
    paths = sorted(glob.glob(os.path.join(acl_dir, "*.json")))
    if not paths:
        return previous
    entries = []
    for path in paths:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_uid != superuser_uid or (superuser_uid == 0 and st.st_gid != 0):
            log("%s has wrong owner" % path)
            continue
        if st.st_mode & (stat.S_IWOTH | stat.S_IWGRP | stat.S_IXOTH):
            log("%s has wrong permissions" % path)
            continue
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            log("failed to parse %s" % path)
            continue
        log("loading %s" % path)
        entries.extend(acl_entries(doc))
    return entries


def acl_allows(entries, client, obj, method=None, publish=False, superuser_uid=0):
    """ubusd_acl_check() for UBUS_ACL_PUBLISH (publish=True) or UBUS_ACL_ACCESS."""
    if client.uid == superuser_uid:
        return True
    for entry in entries:
        if not entry.matches(obj) or not entry.matches_cred(client.uid, client.gids):
            continue
        if publish and entry.publish:
            return True
        if not publish and entry.methods is not None and (
                method in entry.methods or "*" in entry.methods):
            return True
    return False


# -- clients and objects (ubusd_proto.c, ubusd_obj.c) -----------------------------

class Client:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        sock = writer.get_extra_info("socket")
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        self.pid, self.uid, gid = struct.unpack("3i", creds)
        self.gids = {gid} | self._extra_gids()
        self.pending = {}        # seq -> future of the publisher's answer

    def _extra_gids(self):
        """ubusd_acl_load_extra_gids(): the Groups: line of /proc/<pid>/status."""
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("Groups:"):
                        return set(int(g) for g in line.split()[1:])
        except OSError:
            pass
        return set()

    def send(self, message):
        self.writer.write(json.dumps(message).encode() + b"\n")


class Ubusd:
    def __init__(self, acl_dir, superuser_uid):
        self.acl_dir = acl_dir
        self.superuser_uid = superuser_uid
        self.acls = []
        self.objects = {}        # path -> (publisher Client, signature)
        self.seq = 0

    def load_acls(self):
        log("reading ACLs in %s" % self.acl_dir)
        self.acls = load_acls(self.acl_dir, self.superuser_uid, self.acls)

    def visible(self, client, path):
        """ubusd_send_obj(): shown if the caller may call one of its methods (or it has none)."""
        signature = self.objects[path][1]
        return not signature or any(
            acl_allows(self.acls, client, path, m, superuser_uid=self.superuser_uid) for m in signature)

    def add(self, client, msg):
        """ubusd_handle_add_object() -> ubusd_create_object()."""
        path = msg.get("path")
        if not acl_allows(self.acls, client, path, publish=True, superuser_uid=self.superuser_uid):
            log("uid %d may not publish %s" % (client.uid, path))
            return STATUS_INVALID_ARGUMENT
        if path in self.objects:       # avl_insert() fails: the name is taken
            return STATUS_INVALID_ARGUMENT
        self.objects[path] = (client, msg.get("signature") or {})
        return STATUS_OK

    def lookup(self, client, pattern):
        """__ubusd_handle_lookup(): one name, or a prefix ending in '*'."""
        if pattern is None or pattern == "*":
            names = sorted(self.objects)
        elif not pattern:
            return STATUS_INVALID_ARGUMENT, {}
        elif pattern.endswith("*"):
            names = sorted(n for n in self.objects if n.startswith(pattern[:-1]))
        else:
            names = [pattern] if pattern in self.objects else []
        if not names:
            return STATUS_NOT_FOUND, {}
        return STATUS_OK, dict((n, self.objects[n][1]) for n in names if self.visible(client, n))

    async def invoke(self, client, msg):
        """ubusd_handle_invoke(): check the ACL, forward to the publisher, wait for its status."""
        path, method = msg.get("object"), msg.get("method")
        if path not in self.objects or not self.visible(client, path):
            return STATUS_NOT_FOUND, []        # the caller's ubus_lookup_id() finds nothing
        if not acl_allows(self.acls, client, path, method, superuser_uid=self.superuser_uid):
            return STATUS_PERMISSION_DENIED, []
        owner = self.objects[path][0]
        self.seq += 1
        future = asyncio.get_running_loop().create_future()
        owner.pending[self.seq] = {"future": future, "data": []}
        owner.send({"op": "invoke", "seq": self.seq, "path": path, "method": method,
                    "args": msg.get("args") or {}})
        try:
            return await asyncio.wait_for(future, INVOKE_TIMEOUT_S)
        except asyncio.TimeoutError:
            return STATUS_TIMEOUT, []
        finally:
            owner.pending.pop(self.seq, None)

    def from_publisher(self, client, msg):
        """The publisher's data and status messages for a call it was given."""
        call = client.pending.get(msg.get("seq"))
        if call is None or call["future"].done():
            return
        if msg["op"] == "data":
            call["data"].append(msg.get("data"))
        else:
            call["future"].set_result((msg.get("status", STATUS_OK), call["data"]))

    async def serve_client(self, reader, writer):
        client = Client(reader, writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                op = msg.get("op")
                if op == "add":
                    client.send({"op": "status", "status": self.add(client, msg)})
                elif op == "lookup":
                    status, objects = self.lookup(client, msg.get("path"))
                    client.send({"op": "status", "status": status, "objects": objects})
                elif op in ("data", "status"):
                    self.from_publisher(client, msg)
                elif "object" in msg:
                    asyncio.ensure_future(self.answer_call(client, msg))
                await writer.drain()
        except (ConnectionError, ValueError) as err:
            log("client pid %d: %s" % (client.pid, err))
        finally:
            # ubusd_proto_free_client(): a client's objects go with it
            for path in [p for p, (owner, _) in self.objects.items() if owner is client]:
                del self.objects[path]
            for call in client.pending.values():
                if not call["future"].done():
                    call["future"].set_result((STATUS_TIMEOUT, call["data"]))
            writer.close()

    async def answer_call(self, client, msg):
        status, data = await self.invoke(client, msg)
        client.send({"status": status, "reply": data[0] if data else None, "replies": data})
        try:
            await client.writer.drain()
        except ConnectionError:
            pass


async def main_async(args):
    ubusd = Ubusd(args.A, args.superuser_uid)
    try:
        os.unlink(args.s)          # main(): unlink(ubus_socket) before usock()
    except FileNotFoundError:
        pass
    os.umask(0o111)                # main(): the socket is rw for everyone
    server = await asyncio.start_unix_server(ubusd.serve_client, path=args.s)
    ubusd.load_acls()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, ubusd.load_acls)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    log("listening on %s" % args.s)
    await stop
    server.close()
    os.unlink(args.s)


def main(argv=None):
    parser = argparse.ArgumentParser(description="fake ubusd for dprive's tests")
    parser.add_argument("-s", required=True, help="socket path")
    parser.add_argument("-A", required=True, help="ACL directory (/usr/share/acl.d)")
    parser.add_argument("--superuser-uid", type=int, default=0)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
