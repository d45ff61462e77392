"""Session ticket keys kept in a file, so that a restart does not cost clients a full handshake.

What pyOpenSSL offers, and what it does not (checked with pyOpenSSL 26.4 and
its cryptography 50 wheel, and with Debian's pyOpenSSL 23 / cryptography 38):

- No API for ticket keys. OpenSSL's SSL_CTX_set_tlsext_ticket_keys is a
  macro over SSL_CTX_ctrl(ctx, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, 80, keys),
  and the cffi bindings that pyOpenSSL uses (OpenSSL._util.lib) declare
  neither SSL_CTX_ctrl nor SSL_CTX_set_tlsext_ticket_key_evp_cb. Without
  them OpenSSL makes random ticket keys for each SSL_CTX: tickets resume
  only within one gateway process.
- A stateful session cache does not help: the bindings have no
  SSL_CTX_add_session and no SSL_CTX_sess_set_get_cb, so sessions saved with
  i2d_SSL_SESSION could not be put back into a new process's cache.
- What can be done: SSL_CTX_ctrl is an exported function of libssl. Where the
  cffi extension links libssl dynamically (Debian's python3-cryptography;
  OpenWrt's python3-cryptography is built against the shared libopenssl the
  same way), ctypes finds SSL_CTX_ctrl in exactly the libssl that extension
  uses (dlsym through the extension's own handle, so never a second copy of
  OpenSSL such as the one the `ssl` module loads) and the keys are set there.
  The cryptography wheels from PyPI link OpenSSL statically with hidden
  symbols: there SSL_CTX_ctrl cannot be reached, the keys stay per process,
  `install_ticket_keys` says why, and the status shows ticket_keys 'process'.

The file holds 80 bytes: key name (16), HMAC secret (32), AES key (32). It is
made with random bytes (mode 0600) when missing. Rotating means writing a new
file and restarting: tickets under the old key then cost a full handshake.
"""

import ctypes
import os

TICKET_KEYS_LEN = 80
SSL_CTRL_SET_TLSEXT_TICKET_KEYS = 59
SSL_CTRL_GET_TLSEXT_TICKET_KEYS = 58


class TicketKeyError(Exception):
    """The key file cannot be read or made."""


def load_ticket_keys(path):
    """The 80 bytes in `path`, made (with its directory) when the file is missing."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(TICKET_KEYS_LEN + 1)
    except FileNotFoundError:
        data = None
    except OSError as err:
        raise TicketKeyError("cannot read %s: %s" % (path, err.strerror or err))
    if data is not None:
        if len(data) != TICKET_KEYS_LEN:
            raise TicketKeyError("%s holds %s bytes, expected exactly %d random bytes"
                                 % (path, "more than %d" % TICKET_KEYS_LEN
                                    if len(data) > TICKET_KEYS_LEN else len(data), TICKET_KEYS_LEN))
        return data
    data = os.urandom(TICKET_KEYS_LEN)
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as err:
        raise TicketKeyError("cannot create %s: %s" % (path, err.strerror or err))
    return data


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _ssl_ctx_ctrl():
    """(SSL_CTX_ctrl of the libssl pyOpenSSL runs on, None) or (None, why not)."""
    try:
        from OpenSSL._util import ffi, lib
        raw = getattr(lib, "_original_lib", lib)
        wrapper = int(ffi.cast("uintptr_t", ffi.addressof(raw, "SSL_CTX_new")))
        info = _DlInfo()
        if not ctypes.CDLL(None).dladdr(ctypes.c_void_p(wrapper), ctypes.byref(info)):
            return None, "cannot locate pyOpenSSL's OpenSSL binding in memory"
        extension = info.dli_fname.decode("utf-8", "replace")
        handle = ctypes.CDLL(extension, mode=os.RTLD_NOLOAD)
    except (ImportError, AttributeError, TypeError, OSError) as err:
        return None, "cannot inspect pyOpenSSL's OpenSSL binding (%s)" % err
    try:
        func = handle.SSL_CTX_ctrl
    except AttributeError:
        return None, ("%s links OpenSSL statically without exporting SSL_CTX_ctrl, and "
                      "pyOpenSSL has no API for ticket keys" % os.path.basename(extension))
    func.restype = ctypes.c_long
    func.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    return func, None


def install_ticket_keys(context, keys):
    """Make `context` (an OpenSSL.SSL.Context) encrypt and decrypt tickets with
    `keys`. Returns None on success, else the reason it cannot be done."""
    func, why = _ssl_ctx_ctrl()
    if func is None:
        return why
    try:
        from OpenSSL._util import ffi    # the pyOpenSSL engine's only: optional in dprive-dtls
    except ImportError as err:
        return "pyOpenSSL cannot be imported: %s" % err
    ctx = int(ffi.cast("uintptr_t", context._context))
    buf = ctypes.create_string_buffer(bytes(keys), TICKET_KEYS_LEN)
    if func(ctx, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, TICKET_KEYS_LEN, buf) != 1:
        return "SSL_CTX_ctrl refused the ticket keys"
    check = ctypes.create_string_buffer(TICKET_KEYS_LEN)
    if (func(ctx, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, TICKET_KEYS_LEN, check) != 1
            or check.raw != bytes(keys)):
        return "SSL_CTX_ctrl did not keep the ticket keys"
    return None
