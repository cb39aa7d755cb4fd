#!/usr/bin/env python3
"""An independent check of --dataset-info: for each supervised entry of
dataset_info.json here, computes what LookAhead Tuning should make of each
record, following LLaMA-Factory's own reading of the entry (its parser's
defaults, columns and tags replacing all defaults, alpaca history pairs,
sharegpt turns of user_tag then assistant_tag), and compares it, parsed,
record by record, with what lookahead writes. Refused entries must exit
with their code. Prints one line per run; exits 1 on any difference.

Usage: check.py path/to/lookahead
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
INFO = os.path.join(HERE, "dataset_info.json")
CONNECTOR = " The answer begins with: "
P = "Let's solve this problem. "
M = 3


def layout(entry):
    """LLaMA-Factory's DatasetAttr for an entry: columns or tags objects
    replace every default."""
    cols = entry.get("columns")
    if cols is None:
        cols = {"prompt": "instruction", "query": "input", "response": "output", "messages": "conversations"}
    tags = entry.get("tags")
    if tags is None:
        tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
    return entry.get("formatting", "alpaca"), cols, tags


def turns(rec, fmt, cols, tags):
    """(prompt place, answer place) pairs, each place a (container, key)."""
    out = []
    if fmt == "alpaca":
        hist = rec.get(cols["history"]) if cols.get("history") else None
        if isinstance(hist, list):
            for pair in hist:
                out.append(((pair, 0), (pair, 1)))
        query = cols.get("query")
        if query and isinstance(rec.get(query), str) and rec[query] != "":
            prompt = (rec, query)
        else:
            prompt = (rec, cols["prompt"])
        out.append((prompt, (rec, cols["response"])))
        return out
    msgs = rec[cols["messages"]]
    role, content = tags["role_tag"], tags["content_tag"]
    def answers(msg):
        # openai formatting: an assistant message with tool calls becomes a
        # function call message (its content replaced by the calls)
        if fmt == "openai" and msg.get("tool_calls"):
            return False
        return msg[role] == tags["assistant_tag"]
    for i in range(1, len(msgs)):
        if answers(msgs[i]) and msgs[i - 1][role] == tags["user_tag"]:
            out.append(((msgs[i - 1], content), (msgs[i], content)))
    return out


def words_prefix(text, m):
    """The shortest prefix holding m white-space separated words, or all."""
    found = list(re.finditer(r"\S+", text))
    if len(found) <= m:
        return text if len(found) < m else text[: found[-1].end()] if found else text
    return text[: found[m - 1].end()]


def expected(rec, fmt, cols, tags, mode):
    for (pc, pk), (ac, ak) in turns(rec, fmt, cols, tags):
        if mode == "virtual":
            pc[pk] = pc[pk] + CONNECTOR + P
            ac[ak] = P + ac[ak]
        else:
            pc[pk] = pc[pk] + CONNECTOR + words_prefix(ac[ak], M)
    return rec


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def files_of(entry):
    path = os.path.join(HERE, entry["file_name"])
    if os.path.isdir(path):
        return [os.path.join(path, n) for n in sorted(os.listdir(path)) if not n.startswith(".")]
    return [path]


def main():
    binary = sys.argv[1]
    info = json.load(open(INFO, encoding="utf-8"))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, entry in info.items():
            refused = entry.get("ranking") or "kto_tag" in entry.get("columns", {}) or \
                ("columns" in entry and entry.get("formatting", "alpaca") == "alpaca" and
                 "response" not in entry["columns"])
            local = "file_name" in entry
            for mode in ("virtual", "real"):
                out = os.path.join(tmp, "out")
                if os.path.exists(out):
                    os.remove(out)
                run = subprocess.run([binary, "--mode", mode, "--m", str(M), "-q", "--dataset-info", INFO,
                                      "--dataset", name, "-o", out], capture_output=True, text=True)
                if refused or not local:
                    want = 2 if refused else 66
                    ok = run.returncode == want and not os.path.exists(out)
                    print(f"{name} {mode}: exit {run.returncode}, expected {want}" + ("" if ok else " FAIL"))
                    failed += not ok
                    continue
                fmt, cols, tags = layout(entry)
                records = [r for f in files_of(entry) for r in load(f)]
                want = [expected(r, fmt, cols, tags, mode) for r in records]
                got = load(out) if run.returncode == 0 else None
                same = got == want
                print(f"{name} {mode}: {len(records)} records, " + ("same" if same else "DIFFERENT FAIL"))
                if not same:
                    failed += 1
                    print(run.stderr, file=sys.stderr)
                    for w, g in zip(want, got or []):
                        if w != g:
                            print("expected", json.dumps(w), "\ngot     ", json.dumps(g), file=sys.stderr)
                            break
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
