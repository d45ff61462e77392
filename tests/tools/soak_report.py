"""The soak's rows (forwarder x fault) and the table `make soak` prints."""

from tests.tools import soak


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


class Row:
    def __init__(self):
        self.applies = True
        self.queries = self.answered = self.servfail = self.wrong = self.lost = 0
        self.latencies = []
        self.full = self.resumed = 0
        self.attempts = 0           # connects begun (dprive only; stubby: its relay's handshakes)
        self.seconds = 0.0
        self.effects = []

    @classmethod
    def of(cls, kind, windows, samples):
        row = cls()
        row.applies = windows[0].fault.applies(kind)
        for w in windows:
            row.seconds += w.end - w.start
            d = soak.delta(w.before[kind], w.after[kind])
            row.resumed += d["resumptions_accepted"]
            row.full += d["handshakes"] - d["resumptions_accepted"]
            row.attempts += d["connects"] if kind != "stubby" else d["handshakes"]
            row.effects.append(w.effects.get(kind))
            for s in samples:
                if not w.start <= s.sent_at < w.end:
                    continue
                row.queries += 1
                if s.latency_ms is None:
                    row.lost += 1
                    continue
                row.latencies.append(s.latency_ms)
                if s.rcode == 2:
                    row.servfail += 1
                elif s.correct:
                    row.answered += 1
                else:
                    row.wrong += 1
        return row

    @property
    def handshakes(self):
        return self.full + self.resumed

    @property
    def effect_seen(self):
        """Every window of this fault reached the forwarder."""
        return all(e not in (None, "") for e in self.effects)

    def cells(self):
        if not self.applies:
            return ["n/a"] * 10
        ms = ["-" if v is None else "%.0f" % v for v in
              (percentile(self.latencies, p) for p in (50, 95, 99))]
        hs_s = self.handshakes / self.seconds if self.seconds else 0.0
        effect = "; ".join(sorted({e or "not seen" for e in self.effects}))
        return [str(self.queries), str(self.answered),
                str(self.servfail) + ("" if not self.wrong else " (+%d wrong)" % self.wrong),
                str(self.lost)] + ms + ["%d/%d" % (self.full, self.resumed), "%.2f" % hs_s, effect]


HEAD = ("forwarder", "fault", "queries", "answered", "SERVFAIL", "lost", "p50 ms", "p95 ms",
        "p99 ms", "handshakes full/resumed", "hs/s", "effect seen")


def table(result, effect_width=70):
    lines = [HEAD]
    for kind, fault, row in result.rows():
        cells = row.cells()
        cells[-1] = cells[-1][:effect_width]
        lines.append((kind, fault.key) + tuple(cells))
    widths = [max(len(r[i]) for r in lines) for i in range(len(HEAD))]
    out = []
    for n, r in enumerate(lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            out.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    return "\n".join(out)


def totals(result):
    """kind -> Row over the whole run (every window)."""
    out = {}
    for kind in result.rig.forwarders:
        out[kind] = Row.of(kind, result.windows, result.samples[kind])
        out[kind].applies = True
    return out
