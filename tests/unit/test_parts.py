# portable: runs under MicroPython too
"""The Forwarder's parts alone, each built from its collaborators with no
Forwarder around it: Links (handles, attempts and their deadlines), Clients (a
query's one end) and DtlsFlows (a failed resumption hands its queries back)."""

from coreharness import make_answer, make_query
from testkit import eq, ok

from dprive.core import message, session_state, upstream_state, wire
from dprive.core.actions import Connect, ForwarderConfig, Reply, Send
from dprive.core.alarm import Alarm
from dprive.core.clients import Clients
from dprive.core.dtls_flows import DtlsFlows
from dprive.core.dtls_policy import DtlsPolicy
from dprive.core.links import Links
from dprive.core.recovery_policy import RecoveryPolicy
from dprive.core.resumption import ResumptionPolicy
from dprive.core.upstream import CONNECTING, OPEN, REPLACING, Session, Upstream


def counting():
    state = [0]

    def rand16():
        state[0] += 1
        return state[0]
    return rand16


def links_for(config, alarm):
    return Links(config, counting(), alarm, ResumptionPolicy(config), DtlsPolicy(config))


def query():
    return message.inspect_query(make_query())[1]


def test_links_give_each_session_a_new_handle_and_each_attempt_a_deadline_within_its_query_s():
    alarm = Alarm()
    eq(alarm.next(), None)
    links = links_for(ForwarderConfig(attempt_min_ms=400, connect_timeout_ms=3000), alarm)
    up = Upstream(0, "one", transports=("dtls", "tls"))
    out = []
    links.connect(up, 0, out)
    stream = links.connect_side_tls(up, 10, out)
    eq([(a.handle, a.transport) for a in out], [(1, "dtls"), (2, "tls")])
    ok(isinstance(out[0], Connect) and isinstance(out[1], Connect))
    eq((up.state, up.stream, up.counters["connects"]), (CONNECTING, stream, 1),
       "the TLS session beside DTLS is no connect of the upstream's")
    eq(alarm.next(), 3000, "the first connect deadline")
    clients = Clients()
    pq = clients.add("c", query(), True, 700)
    attempt = links.attach(pq, up, stream)
    eq((stream.inflight, pq.attempts, attempt.sent_at), ({attempt.id: attempt}, [attempt], None))
    links.transmit(attempt, 100, out)
    ok(isinstance(out[-1], Send) and out[-1].handle == 2)
    eq(attempt.deadline, 700, "the RTO (1 s before any sample) is cut to the query's deadline")
    eq(alarm.next(), 700)
    alarm.clear()
    eq(alarm.next(), None)


def test_clients_end_a_query_once_retiring_its_attempts_and_our_own_queries_end_silently():
    clients = Clients()
    pq = clients.add("c", query(), True, 5000)
    clients.waiting.append(pq)
    session = Session(1, 0, 3000)
    links = links_for(ForwarderConfig(), Alarm())
    attempt = links.attach(pq, Upstream(0, "one"), session)
    session.queued.append(attempt)
    out = []
    clients.servfail(pq, "test", out)
    eq((pq.done, clients.pending, clients.waiting), (True, {}, []))
    eq((session.inflight, session.queued), ({}, []))
    ok(attempt.id in session.retired, "a late answer to it is known as late")
    ok(isinstance(out[-1], Reply) and out[-1].client == "c")
    eq(wire.parse_header(out[-1].msg).rcode(), wire.RCODE_SERVFAIL)
    eq(clients.counters["servfail"], 1)
    own = clients.add(None, query(), False, 5000)
    ok(own.pending_key != pq.pending_key, "a new key for each query")
    out = []
    clients.complete(own, make_answer(make_query()), out)
    eq((out, clients.counters["answers"], clients.pending), ([], 0, {}))
    waiting = clients.waiting
    clients.waiting.append(own)
    eq((clients.take_waiting(), clients.waiting), ([own], []))
    ok(clients.waiting is waiting, "the same list: the Forwarder shows it")


def test_a_failed_resumption_hands_back_the_queries_that_went_with_it_and_keeps_the_old_session():
    config = ForwarderConfig(dtls_resume_after_ms=0)
    alarm = Alarm()
    links = links_for(config, alarm)
    clients = Clients()
    flows = DtlsFlows(config, links, clients, alarm, DtlsPolicy(config), RecoveryPolicy())
    up = Upstream(0, "one", transports=("dtls",))
    out = []
    links.connect(up, 0, out)
    old = up.session
    session_state.move(old, session_state.UP)
    upstream_state.move(up, upstream_state.UP)
    eq(flows.successor_failed(up, "refused", 0, out), None, "nothing is replacing the session")
    before = clients.add("c1", query(), True, 5000)
    links.transmit(links.attach(before, up, old), 0, out)
    flows.alert(up, 1000, out)
    new = up.session
    eq((up.state, up.previous, len(new.queued)), (REPLACING, old, 1), "its copy waits for the Finished")
    during = clients.add("c2", query(), True, 6000)
    new.queued.append(links.attach(during, up, new))
    orphans = flows.successor_failed(up, "refused", 1500, out)
    eq(sorted(pq.pending_key for pq in orphans), [before.pending_key, during.pending_key])
    eq((up.state, up.session, up.previous, new.state), (OPEN, old, None, session_state.CLOSED))
    eq(old.kept_at, 1500)
    eq(([a.session for a in before.attempts], during.attempts), ([old], []),
       "c1 still waits on the old session; c2 is for the caller to send again")
