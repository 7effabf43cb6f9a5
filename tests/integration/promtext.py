"""A strict parser of the Prometheus text exposition format, version 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/), for tests.
Python 3 standard library only.

    families = parse(text)      # raises ParseError on anything off-format
    families["kvstore_txn_commits_total"].samples  # [(name, labels, value)]

Beyond the grammar it checks what a scraper relies on: a family's HELP
and TYPE come before its samples and only once, families are not split,
sample names belong to their family (histograms: _bucket, _sum, _count),
no series appears twice, counters are non-negative, and every histogram
has increasing "le" bounds ending in +Inf, cumulative bucket counts, and
a +Inf bucket equal to its _count.
"""

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(Exception):
    pass


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []       # (sample name, {label: value}, float)


def parse_value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise ParseError("%s: bad value %r" % (where, s))
    return float(s)


def parse_labels(s, where):
    """s is the text between { and }. Returns a dict."""
    labels = {}
    i = 0
    while i < len(s):
        m = re.match(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", s[i:])
        if not m:
            raise ParseError("%s: bad label at %r" % (where, s[i:]))
        name = m.group(1)
        i += m.end()
        val = []
        while True:
            if i >= len(s):
                raise ParseError("%s: unterminated label value" % where)
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in "\\\"n":
                    raise ParseError("%s: bad escape in label value" % where)
                val.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ParseError("%s: newline in label value" % where)
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ParseError("%s: label %s twice" % (where, name))
        labels[name] = "".join(val)
        if i < len(s):
            if s[i] != ",":
                raise ParseError("%s: expected ',' in labels" % where)
            i += 1
    return labels


def split_sample(line, where):
    """name{labels} value [timestamp] -> (name, labels, value)."""
    if "{" in line.split(" ", 1)[0]:
        name, rest = line.split("{", 1)
        # The closing brace is the last one not inside a label value.
        depth_end = None
        in_str = esc = False
        for j, c in enumerate(rest):
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = not in_str
            elif c == "}" and not in_str:
                depth_end = j
                break
        if depth_end is None:
            raise ParseError("%s: unterminated labels" % where)
        labels = parse_labels(rest[:depth_end], where)
        tail = rest[depth_end + 1:]
    else:
        name, _, tail = line.partition(" ")
        tail = " " + tail
        labels = {}
    if not NAME.match(name):
        raise ParseError("%s: bad metric name %r" % (where, name))
    if not tail.startswith(" ") or tail.startswith("  "):
        raise ParseError("%s: expected one space before the value" % where)
    parts = tail[1:].split(" ")
    if len(parts) not in (1, 2) or parts[0] == "":
        raise ParseError("%s: expected value [timestamp]" % where)
    value = parse_value(parts[0], where)
    if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
        raise ParseError("%s: bad timestamp %r" % (where, parts[1]))
    return name, labels, value


def family_of(sample_name, families, current):
    if current is not None:
        f = families[current]
        if sample_name == current:
            return current
        if f.type in ("histogram", "summary"):
            for suf in ("_bucket", "_sum", "_count"):
                if sample_name == current + suf:
                    return current
    return None


def parse(text):
    if not text.endswith("\n"):
        raise ParseError("exposition does not end with a newline")
    families = {}
    order = []
    current = None
    seen_series = set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d" % n
        if line == "":
            raise ParseError("%s: empty line" % where)
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)\Z", line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    raise ParseError("%s: malformed %r" % (where, line))
                continue    # a plain comment
            kind, name, rest = m.groups()
            if not NAME.match(name):
                raise ParseError("%s: bad metric name %r" % (where, name))
            f = families.get(name)
            if f is None:
                f = families[name] = Family(name)
                order.append(name)
            elif current != name:
                raise ParseError("%s: family %s split" % (where, name))
            if f.samples:
                raise ParseError("%s: %s after samples of %s" % (where, kind, name))
            if kind == "HELP":
                if f.help is not None:
                    raise ParseError("%s: second HELP for %s" % (where, name))
                f.help = rest
            else:
                if f.type is not None:
                    raise ParseError("%s: second TYPE for %s" % (where, name))
                if rest not in TYPES:
                    raise ParseError("%s: unknown type %r" % (where, rest))
                f.type = rest
            current = name
            continue
        name, labels, value = split_sample(line, where)
        fam = family_of(name, families, current)
        if fam is None:
            raise ParseError("%s: sample %s outside its family (current %s)"
                             % (where, name, current))
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ParseError("%s: series %s%s twice" % (where, name, labels))
        seen_series.add(series)
        f = families[fam]
        if f.type is None:
            raise ParseError("%s: sample of %s before its TYPE" % (where, fam))
        if f.type == "counter" and not value >= 0:
            raise ParseError("%s: counter %s negative" % (where, name))
        if f.type == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise ParseError("%s: bucket without le" % where)
        f.samples.append((name, labels, value))
    for name in order:
        f = families[name]
        if f.type == "histogram":
            check_histogram(f)
    return families


def check_histogram(f):
    groups = {}
    for name, labels, value in f.samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"], f.name), value))
        elif name.endswith("_sum"):
            g["sum"] = value
        elif name.endswith("_count"):
            g["count"] = value
    for key, g in groups.items():
        where = "%s%s" % (f.name, dict(key))
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ParseError("%s: no +Inf bucket last" % where)
        if g["sum"] is None or g["count"] is None:
            raise ParseError("%s: missing _sum or _count" % where)
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le1 < le2:
                raise ParseError("%s: le not increasing" % where)
            if not c1 <= c2:
                raise ParseError("%s: buckets not cumulative" % where)
        if b[-1][1] != g["count"]:
            raise ParseError("%s: +Inf bucket %s != count %s"
                             % (where, b[-1][1], g["count"]))


def value(families, name, **labels):
    """The value of one series; KeyError if absent."""
    for fam in families.values():
        for n, l, v in fam.samples:
            if n == name and l == labels:
                return v
    raise KeyError("%s%s" % (name, labels))
