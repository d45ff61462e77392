"""Median and min-max of a figure over the bench's rounds, and percentiles."""

import statistics


def percentile(sorted_values, pct):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values, spec=".0f", width=21):
    """`median [min-max]` of the rounds' values (None ones left out)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-".rjust(width)
    if len(values) == 1:
        return format(values[0], spec).rjust(width)
    text = "%s [%s-%s]" % (format(statistics.median(values), spec), format(min(values), spec),
                           format(max(values), spec))
    return text.rjust(width)


def ratio(a, b):
    return None if a is None or not b else a / b
