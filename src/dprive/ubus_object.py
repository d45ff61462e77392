"""The ubus object `dprive`, published by the daemon itself with python3-ubus.

Methods, and why their signatures look like this: python3-ubus checks
arguments strictly (every key sent must be in the signature and every
signature key must be sent), and LuCI adds `ubus_rpc_session` to every call.
So the methods LuCI calls carry that key, and the command line gets twins
without it:

    status     {ubus_rpc_session}          the control socket's status JSON   (LuCI)
    stats      {ubus_rpc_session}          the counters only                  (LuCI)
    reconnect  {name, ubus_rpc_session}    name "" reconnects every upstream  (LuCI)
    dump       {}                          `ubus call dprive dump`            (shell)

Replies are always JSON objects; failures are reported inside them
({"ok": false, "error": ...}), never as ubus error codes. python3-ubus runs
its loop in a thread of its own here; every handler hands its work to the
asyncio loop and waits for the answer, so the daemon's state is only ever
touched from the loop's thread.
"""

import asyncio
import logging
import threading

log = logging.getLogger("dprive")

OBJECT = "dprive"
LOOP_TIMEOUT_MS = 500
CALL_TIMEOUT_S = 2.0


def _method(handler, ubus, *names):
    """One entry of ubus.add()'s method table: python3-ubus takes exactly
    {"signature": {arg: BLOBMSG_TYPE_*}, "method": callable} and refuses
    anything else ("Incorrect method arguments!")."""
    return {"signature": dict((name, ubus.BLOBMSG_TYPE_STRING) for name in names),
            "method": handler}


class UbusObject:
    def __init__(self, daemon, loop):
        self.daemon = daemon
        self.loop = loop
        self.ubus = None
        self.thread = None
        self.running = False

    def start(self, socket_path=None):
        """Publish the object if python3-ubus is there; False (and one log line) if not."""
        try:
            import ubus
        except ImportError:
            log.info("python3-ubus is not installed: no ubus object (the control socket works)")
            return False
        try:
            ubus.connect(socket_path) if socket_path else ubus.connect()
            ubus.add(OBJECT, {
                "status": _method(self._status, ubus, "ubus_rpc_session"),
                "stats": _method(self._stats, ubus, "ubus_rpc_session"),
                "reconnect": _method(self._reconnect, ubus, "name", "ubus_rpc_session"),
                "dump": _method(self._status, ubus),
            })
        except Exception as err:   # ubusd down, or another dprive holds the name
            log.warning("cannot publish the ubus object %s: %s", OBJECT, err)
            return False
        self.ubus = ubus
        self.running = True
        self.thread = threading.Thread(target=self._serve, name="ubus", daemon=True)
        self.thread.start()
        log.info("ubus object %s published", OBJECT)
        return True

    def stop(self):
        self.running = False
        if self.thread is not None:
            self.thread.join(2 * LOOP_TIMEOUT_MS / 1000.0)
        if self.ubus is not None:
            try:
                self.ubus.disconnect()
            except Exception:   # already gone with ubusd
                pass

    def _serve(self):
        while self.running:
            self.ubus.loop(LOOP_TIMEOUT_MS)

    # handlers: run in the ubus thread

    def _status(self, handler, data):
        handler.reply(self._in_loop(self.daemon.status))

    def _stats(self, handler, data):
        handler.reply(self._in_loop(lambda: {"counters": self.daemon.status()["counters"]}))

    def _reconnect(self, handler, data):
        name = data.get("name") or None

        def work():
            if self.daemon.reconnect(name):
                return {"ok": True}
            return {"ok": False, "error": "no upstream named %s" % name}
        handler.reply(self._in_loop(work))

    def _in_loop(self, work):
        async def run():
            return work()
        try:
            return asyncio.run_coroutine_threadsafe(run(), self.loop).result(CALL_TIMEOUT_S)
        except Exception as err:
            return {"ok": False, "error": "dprive could not answer: %s" % (err or type(err).__name__)}
