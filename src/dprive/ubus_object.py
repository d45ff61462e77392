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
daemon's loop (io/loop.py call_soon_threadsafe) and waits for the answer, so
the daemon's state is only ever touched from the loop's thread. libubus is not thread-safe, so that thread is
also the only one that calls the ubus module at all.

Publishing can fail and must not stay failed: ubusd may start after dprive or
be restarted, and a non-root dprive may publish only once ubusd has read
/usr/share/acl.d/dprive.json (at its start or on SIGHUP, which postinst sends
after installing the file). So the thread retries every RETRY_S, and while
published it asks ubusd every CHECK_S whether the connection still works
(python3-ubus keeps saying connected after ubusd is gone; only a request
fails), and publishes again on a new connection if not.
"""

from dprive import log as dlog
import os
import time

log = dlog.getLogger("dprive")

OBJECT = "dprive"
LOOP_TIMEOUT_MS = 500
CALL_TIMEOUT_S = 2.0


def _method(handler, ubus, *names):
    """One entry of ubus.add()'s method table: python3-ubus takes exactly
    {"signature": {arg: BLOBMSG_TYPE_*}, "method": callable} and refuses
    anything else ("Incorrect method arguments!")."""
    return {"signature": dict((name, ubus.BLOBMSG_TYPE_STRING) for name in names),
            "method": handler}


def _text(err):
    return str(err).strip() or type(err).__name__


def _hint(err):
    """ubusd answers "Invalid argument" both when the name is taken and when no
    ACL it has loaded lets this uid publish it (ubusd_create_object()); say so."""
    if "Invalid argument" not in str(err):
        return ""
    if os.getuid() == 0:
        return " (ubusd says so when another process holds the name)"
    return (" (ubusd refuses a name another process holds, and, for uid %d, a name no ACL"
            " it has loaded allows: it reads /usr/share/acl.d only when it starts and on"
            " SIGHUP)" % os.getuid())


class UbusObject:
    RETRY_S = 3.0
    CHECK_S = 3.0

    def __init__(self, daemon, loop):
        self.daemon = daemon
        self.loop = loop
        self.ubus = None
        self.socket_path = None
        self.thread = None
        self.running = False
        self.published = False
        self.last_error = None

    def start(self, socket_path=None):
        """Start publishing if python3-ubus is there (the thread keeps trying);
        False (and one log line) if it is not."""
        try:
            import ubus
        except ImportError:
            self.last_error = "python3-ubus is not installed"
            log.info("python3-ubus is not installed: no ubus object (the control socket works)")
            return False
        import threading    # only with python3-ubus: the daemon runs no other thread
        self.ubus = ubus
        self.socket_path = socket_path
        self.running = True
        self.thread = threading.Thread(target=self._serve, name="ubus", daemon=True)
        self.thread.start()
        return True

    def status(self):
        """For `dprive status`: whether LuCI can reach the daemon, and if not why
        (two attributes the ubus thread sets; reading them needs no lock)."""
        return {"object": OBJECT, "published": self.published, "error": self.last_error}

    def stop(self):
        self.running = False
        if self.thread is not None:
            self.thread.join(2 * LOOP_TIMEOUT_MS / 1000.0 + 1)

    # the ubus thread

    def _serve(self):
        next_check = 0.0
        while self.running:
            if not self.published:
                self._publish()
                if not self.published:
                    self._sleep(self.RETRY_S)
                    continue
                next_check = time.monotonic() + self.CHECK_S
            try:
                self.ubus.loop(LOOP_TIMEOUT_MS)
            except Exception as err:     # the thread must not die of it: publish anew
                self._lost(err)
                continue
            if time.monotonic() >= next_check:
                self._check()
                next_check = time.monotonic() + self.CHECK_S
        self._disconnect(deregister=self.published)

    def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while self.running and time.monotonic() < end:
            time.sleep(min(0.1, seconds))

    def _publish(self):
        ubus = self.ubus
        try:
            if not ubus.get_connected():
                ubus.connect(self.socket_path) if self.socket_path else ubus.connect()
            ubus.add(OBJECT, self.method_table(ubus))
        except Exception as err:
            self._disconnect(deregister=False)
            self._failed("cannot publish the ubus object %s: %s%s" % (
                OBJECT, _text(err), _hint(err)))
            return
        self.published = True
        self.last_error = None
        log.info("ubus object %s published", OBJECT)

    def method_table(self, ubus):
        """What ubus.add() is given for the object."""
        return {
            "status": _method(self._status, ubus, "ubus_rpc_session"),
            "stats": _method(self._stats, ubus, "ubus_rpc_session"),
            "reconnect": _method(self._reconnect, ubus, "name", "ubus_rpc_session"),
            "dump": _method(self._status, ubus),
        }

    def _check(self):
        """A lookup is the one request that tells a dead ubusd from a live one."""
        try:
            self.ubus.objects(OBJECT)
        except Exception as err:
            self._lost(err)

    def _lost(self, err):
        self.published = False
        self.last_error = "lost the ubus connection: %s" % _text(err)   # what the status shows meanwhile
        self._disconnect(deregister=False)
        log.warning("lost the ubus connection (%s); publishing %s again", _text(err), OBJECT)

    def _failed(self, message):
        """Log a failure once at warning, and again only when its cause changes."""
        if message != self.last_error:
            log.warning("%s; trying again every %gs", message, self.RETRY_S)
        else:
            log.debug("%s", message)
        self.last_error = message

    def _disconnect(self, deregister):
        try:
            if self.ubus.get_connected():
                self.ubus.disconnect(deregister=deregister)
        except Exception as err:   # already gone with ubusd
            log.debug("ubus disconnect: %s", _text(err))

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
        call = _Call(work)
        self.loop.call_soon_threadsafe(call.run)
        try:
            return call.result(CALL_TIMEOUT_S)
        except Exception as err:
            return {"ok": False, "error": "dprive could not answer: %s" % (err or type(err).__name__)}


class _Call:
    """`work` run in the loop's thread, its result (or exception) waited for
    in the ubus thread; the lock is released once it is there."""

    def __init__(self, work):
        import threading
        self.work = work
        self.done = threading.Lock()
        self.done.acquire()
        self.value = self.error = None

    def run(self):
        try:
            self.value = self.work()
        except Exception as err:   # noqa: BLE001 - the caller reports it
            self.error = err
        self.done.release()

    def result(self, timeout_s):
        if not self.done.acquire(timeout=timeout_s):
            raise TimeoutError("no answer within %gs" % timeout_s)
        if self.error is not None:
            raise self.error
        return self.value
