"""Random inputs for the --split property test: gen.py SEED KIND N writes N
records as KIND (jsonl, pretty or compact JSON array) to standard output.
Strings hold brackets, braces, commas, colons, quotes, backslashes, escaped
line breaks, tabs and non-ASCII text; chat records hold nested lists of
objects; some records lack a field (rejected); JSONL gets blank lines, CRLF
and lines that are not JSON."""
import json
import random
import sys

seed, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
HOSTILE = ['},{', '"', '\\', '\\"', '[', ']', ',', '\n', '\r\n', '{"a":1}', '"},{"x":"', ':', 'é', '\U0001F600',
           '\t', '\\\\"', ' ', '\u2028', '],[', '}]', '[{', '", "', '":"']
PLAIN = ['abc', 'Q ', '12', ' the ', 'x']


def text():
    return ''.join(rnd.choice(HOSTILE) if rnd.random() < 0.5 else rnd.choice(PLAIN)
                   for _ in range(rnd.randint(0, 12)))


def record(i):
    t = rnd.random()
    if t < 0.4:
        return {"input": text(), "output": text() + " w%d" % i}
    if t < 0.7:
        return {"messages": [{"role": "user", "content": text()}, {"role": "assistant", "content": text() + " a"},
                             {"role": "user", "content": text()}, {"role": "assistant", "content": "b " + text()}]}
    if t < 0.8:
        return {"input": text(), "output": text(), "nested": [[{"k": text()}], {"z": [1, 2, {"y": text()}]}]}
    if t < 0.9:
        return {"instruction": text(), "input": "", "output": text() + "x"}
    return {"input": text()}


recs = [record(i) for i in range(n)]
ascii_only = rnd.random() < 0.5
out = sys.stdout
if kind == 'jsonl':
    lines = []
    for r in recs:
        lines.append(json.dumps(r, ensure_ascii=ascii_only))
        if rnd.random() < 0.1:
            lines.append('')
        if rnd.random() < 0.05:
            lines.append('not json {"a":"},{"')
    out.write(('\r\n' if rnd.random() < 0.3 else '\n').join(lines) + ('\n' if rnd.random() < 0.8 else ''))
elif kind == 'pretty':
    out.write(json.dumps(recs, indent=rnd.choice([1, 2, 4]), ensure_ascii=ascii_only) + '\n')
else:
    out.write(json.dumps(recs, ensure_ascii=ascii_only,
                         separators=(rnd.choice([',', ', ']), rnd.choice([':', ': ']))))
