// pipelines.js - random tokenizer.json pipelines for tests/oracle/conformance.sh
// (make conformance-pipelines): small BPE models trained here on the
// hostile and random texts, each wrapped in a pipeline drawn at random
// from the components the README lists, in four styles that real model
// families use: a SentencePiece-style normalizer (Prepend and Replace
// into U+2581, byte fallback, Llama-2 kin), a Metaspace pre-tokenizer
// (prepend_scheme first/always/never, split or not), byte-level BPE
// behind Split regexes, Digits and ByteLevel (GPT-2 kin), and word-piece
// style BPE with a continuing_subword_prefix or an end_of_word_suffix
// behind Bert, Whitespace, Punctuation and CharDelimiterSplit
// pre-tokenizers (CLIP kin). Extra normalizers (NFC/NFD/NFKC/NFKD,
// Lowercase, Strip, StripAccents, Replace with String and Regex
// patterns, BertNormalizer, Nmt), decoder stages, merges as strings or
// pairs, ignore_merges, fuse_unk, renumbered ids and added tokens with
// every flag are mixed in at random. Each pipeline is loaded by
// HuggingFace's tokenizers first; one it refuses is drawn again, so every
// file written is one HuggingFace accepts. A fixed seed gives the same
// files.
// usage: node tests/oracle/pipelines.js OUT_DIR [SEED] [COUNT] [TEXTS.jsonl ...]
//   writes OUT_DIR/pipe001.json ...; prints one line per file: its name
//   and what it holds
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const [outDir, seedArg, countArg, ...textFiles] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node tests/oracle/pipelines.js OUT_DIR [SEED] [COUNT] [TEXTS.jsonl ...]');
  process.exit(2);
}
const COUNT = parseInt(countArg || '40', 10);
const rand = require('./prng')(parseInt(seedArg || '7', 10));
const ri = n => Math.floor(rand() * n);
const pick = a => a[ri(a.length)];
const chance = p => rand() < p;

// ---- training text ---------------------------------------------------------
const english = `Natalia sold clips to 48 of her friends in April, and then she sold half as many clips
in May. How many clips did Natalia sell altogether in April and May? Weng earns $12 an hour for
babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn? Betty is
saving money for a new wallet which costs $100. The answer begins with the first tokens of the
answer, and the model learns them without forgetting what it was taught before. Don't, won't,
can't; it's (maybe) "quoted" text -- with dashes... and numbers: 3.14159, 1,000,000 and 2025.`;
const texts = [english];
for (const f of [path.join(__dirname, '..', 'fixtures/tok/hostile.jsonl'), ...textFiles]) {
  if (!fs.existsSync(f)) continue;
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      for (const v of Object.values(r)) if (typeof v === 'string') texts.push(v.slice(0, 600));
    } catch (e) { /* not a record: skipped */ }
  }
}
const corpus = texts.join('\n');

// GPT-2's byte alphabet: byte -> character
const byteChar = (() => {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Array(256);
  bs.forEach(b => { map[b] = String.fromCodePoint(b); });
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
})();
const toByteLevel = w => Array.from(Buffer.from(w, 'utf8'), b => byteChar[b]).join('');

// Words for training, as the style's pipeline roughly cuts them: lists
// of symbols (characters, with the prefix or suffix where the model puts
// them).
function trainingWords(style, prefix, suffix) {
  const counts = new Map();
  const add = w => { if (w) counts.set(w, (counts.get(w) || 0) + 1); };
  if (style === 'bytelevel') {
    const re = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
    for (const m of corpus.matchAll(re)) add(toByteLevel(m[0]));
  } else if (style === 'wordpiece') {
    for (const m of corpus.toLowerCase().matchAll(/\p{L}+|\p{N}|[^\s\p{L}\p{N}]/gu)) add(m[0]);
  } else {                                   // metaspace styles
    for (const w of corpus.split(/[ \n]+/)) add('\u2581' + w);
  }
  const words = [];
  // the most frequent words are enough to learn from, and keep it quick
  const top = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, 3000);
  for (const [w, c] of top) {
    const chars = Array.from(w);
    const sym = chars.map((ch, i) => (i > 0 && prefix ? prefix + ch : ch));
    if (suffix) sym[sym.length - 1] += suffix;
    words.push({ sym, c });
  }
  return words;
}

// A BPE model trained on the words: alphabet (symbols seen at least
// minCount times), then nMerges merges, most frequent pair first.
function train(words, nMerges, minCount, prefix) {
  const symCount = new Map();
  for (const w of words) for (const x of w.sym) symCount.set(x, (symCount.get(x) || 0) + w.c);
  const alphabet = [...symCount.keys()].filter(x => symCount.get(x) >= minCount).sort();
  const known = new Set(alphabet);
  const vocab = alphabet.slice();
  const merges = [], sizes = [];
  let ws = words.filter(w => w.sym.every(x => known.has(x))).map(w => ({ sym: w.sym.slice(), c: w.c }));
  for (let k = 0; k < nMerges; k++) {
    const pc = new Map();
    for (const w of ws)
      for (let i = 0; i + 1 < w.sym.length; i++) {
        const key = w.sym[i] + '\u0000' + w.sym[i + 1];
        pc.set(key, (pc.get(key) || 0) + w.c);
      }
    let best = null, bc = 1;
    for (const [key, c] of pc) if (c > bc || (c === bc && best !== null && key < best)) { best = key; bc = c; }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    const merged = a + (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b);
    merges.push([a, b]);
    if (!known.has(merged)) { known.add(merged); vocab.push(merged); }
    sizes.push(vocab.length);
    for (const w of ws) {
      const out = [];
      for (let i = 0; i < w.sym.length; i++) {
        if (i + 1 < w.sym.length && w.sym[i] === a && w.sym[i + 1] === b) { out.push(merged); i++; }
        else out.push(w.sym[i]);
      }
      w.sym = out;
    }
  }
  return { vocab, merges, sizes };
}
const trained = new Map();

// ---- pipeline components ---------------------------------------------------
const SP = '\u2581';
const splitRegexes = [
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  "\\p{N}{1,3}",
  " ?[^(\\s|[.,!?…。，、।۔،])]+",
  "\\s+",
  "[\\p{P}\\p{S}]",
  "(?<=\\d)(?=\\D)",
  // Qwen-2's (digits one by one), Falcon's and GPT-4o's
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  "[0-9][0-9][0-9]",
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];
const behaviors = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

function extraNormalizers() {
  const out = [];
  const n = ri(3);
  for (let i = 0; i < n; i++) {
    out.push(pick([
      () => ({ type: pick(['NFC', 'NFD', 'NFKC', 'NFKD']) }),
      () => ({ type: 'Lowercase' }),
      () => ({ type: 'Strip', strip_left: chance(0.5), strip_right: chance(0.5) }),
      () => ({ type: 'StripAccents' }),
      () => ({ type: 'Nmt' }),
      () => ({ type: 'Replace', pattern: { String: pick(['``', "''", 'ﬁ', '\t', '  ']) }, content: pick(['"', 'fi', ' ', '']) }),
      () => ({ type: 'Replace', pattern: { Regex: pick(['\\s+', '\\p{Zs}', '[0-9]', ' {2,}', '\\p{M}']) }, content: pick([' ', '', '#']) }),
    ])());
  }
  return out;
}

const normSeq = list => (list.length === 0 ? null : list.length === 1 && chance(0.5) ? list[0]
  : { type: 'Sequence', normalizers: list });
const preSeq = list => (list.length === 0 ? null : list.length === 1 && chance(0.5) ? list[0]
  : { type: 'Sequence', pretokenizers: list });
const decSeq = list => (list.length === 0 ? null : list.length === 1 && chance(0.5) ? list[0]
  : { type: 'Sequence', decoders: list });

function metaspacePre(schemes) {
  if (chance(0.2)) {                     // the older form: add_prefix_space instead of prepend_scheme
    const add = chance(0.7);
    return [{ type: 'Metaspace', replacement: SP, add_prefix_space: add },
            { type: 'Metaspace', replacement: SP, add_prefix_space: add }];
  }
  const scheme = pick(schemes);
  const split = chance(0.5);
  return [{ type: 'Metaspace', replacement: SP, prepend_scheme: scheme, split },
          { type: 'Metaspace', replacement: SP, prepend_scheme: scheme, split }];
}

function build(style) {
  const desc = [style];
  let prefix = null, suffix = null;
  if (style === 'wordpiece') {
    if (chance(0.1)) { prefix = '##'; suffix = '</w>'; }
    else if (chance(0.5)) prefix = '##'; else suffix = '</w>';
  }
  const key = [style, prefix, suffix, 1 + ri(3)].join('|');
  if (!trained.has(key)) trained.set(key, train(trainingWords(style, prefix, suffix), 1000, +key.split('|')[3], prefix));
  const full = trained.get(key);
  // the first k merges of a training are a training of k merges
  const merges = full.merges.slice(0, 100 + ri(full.merges.length - 99));
  const learned = full.vocab.slice(0, full.sizes[merges.length - 1]);
  const byteFallback = (style === 'sp_normalizer' || style === 'sp_pretokenizer') && chance(0.7);
  // (no unk_token: characters the vocabulary lacks are left out)
  const unk = style === 'bytelevel' ? (chance(0.3) ? '<unk>' : null) : chance(0.1) ? null : pick(['<unk>', '[UNK]']);
  const specials = [];
  if (unk) specials.push(unk);
  const vocabList = [];
  for (const t of specials) vocabList.push(t);
  if (byteFallback) for (let b = 0; b < 256; b++) vocabList.push('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
  if (style === 'bytelevel') for (const c of byteChar) if (!learned.includes(c)) vocabList.push(c);
  for (const t of learned) if (!vocabList.includes(t)) vocabList.push(t);
  // ids: in order, or shuffled (a model's ids need not follow its merges)
  const ids = vocabList.map((_, i) => i);
  if (chance(0.25)) for (let i = ids.length - 1; i > 0; i--) { const j = ri(i + 1); [ids[i], ids[j]] = [ids[j], ids[i]]; }
  const vocab = {};
  vocabList.forEach((t, i) => { vocab[t] = ids[i]; });
  const model = {
    type: 'BPE', dropout: null, unk_token: unk,
    continuing_subword_prefix: prefix, end_of_word_suffix: suffix,
    fuse_unk: chance(0.5), byte_fallback: byteFallback, ignore_merges: chance(0.3),
    vocab,
    merges: chance(0.5) ? merges.map(([a, b]) => a + ' ' + b) : merges,
  };
  if (merges.some(([a, b]) => a.includes(' ') || b.includes(' '))) model.merges = merges;
  desc.push(`vocab ${vocabList.length}`, `merges ${merges.length}`, prefix ? 'prefix' : suffix ? 'suffix' : '',
            byteFallback ? 'byte_fallback' : '', model.fuse_unk ? 'fuse_unk' : '', model.ignore_merges ? 'ignore_merges' : '');

  let normalizer = null, pre = null, decoder = null;
  const extra = chance(0.5) ? extraNormalizers() : [];
  if (style === 'sp_normalizer') {
    normalizer = normSeq([...extra, { type: 'Prepend', prepend: SP }, { type: 'Replace', pattern: { String: ' ' }, content: SP }]);
    const stages = [{ type: 'Replace', pattern: { String: SP }, content: ' ' }];
    if (byteFallback || chance(0.5)) stages.push({ type: 'ByteFallback' });
    stages.push({ type: 'Fuse' });
    // (stop > 0 is left out: HuggingFace's Strip decoder panics on tokens shorter than it)
    stages.push({ type: 'Strip', content: ' ', start: pick([1, 1, 0, 2]), stop: 0 });
    decoder = decSeq(stages);
  } else if (style === 'sp_pretokenizer') {
    normalizer = normSeq(extra);
    const [p, d] = metaspacePre(['first', 'always', 'never']);
    pre = chance(0.3) ? preSeq([pick([{ type: 'Digits', individual_digits: chance(0.5) },
                                      { type: 'Split', pattern: { Regex: pick(splitRegexes) }, behavior: pick(behaviors), invert: chance(0.2) }]), p])
      : p;
    decoder = byteFallback ? decSeq([{ type: 'ByteFallback' }, d]) : d;
    if (byteFallback && chance(0.5)) decoder = decSeq([{ type: 'Replace', pattern: { String: SP }, content: ' ' },
                                                      { type: 'ByteFallback' }, { type: 'Fuse' },
                                                      { type: 'Strip', content: ' ', start: 1, stop: 0 }]);
  } else if (style === 'bytelevel') {
    normalizer = normSeq(chance(0.5) ? [{ type: 'NFC' }] : extra);
    const bl = { type: 'ByteLevel', add_prefix_space: chance(0.3), trim_offsets: true, use_regex: true };
    if (chance(0.5)) {
      bl.use_regex = false;
      const stages = [];
      if (chance(0.3)) stages.push({ type: 'Digits', individual_digits: chance(0.5) });
      stages.push(chance(0.8)
        ? { type: 'Split', pattern: { Regex: pick(splitRegexes) }, behavior: pick(behaviors), invert: chance(0.15) }
        : { type: 'Split', pattern: { String: pick([' ', '\n', '.']) }, behavior: pick(behaviors), invert: chance(0.3) });
      if (chance(0.2)) stages.push({ type: 'Punctuation', behavior: pick(behaviors) });
      stages.push(bl);
      pre = preSeq(stages);
    } else pre = bl;
    decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
    if (chance(0.2)) {                       // the text mapped to bytes by the normalizer instead
      normalizer = normSeq([...(chance(0.5) ? [{ type: 'NFC' }] : []), { type: 'ByteLevel' }]);
      pre = chance(0.5) ? null : { type: 'Split', pattern: { String: '\u0120' }, behavior: 'MergedWithNext', invert: false };
    }
  } else {                                   // wordpiece-style BPE
    normalizer = pick([
      () => ({ type: 'BertNormalizer', clean_text: chance(0.8), handle_chinese_chars: chance(0.7),
               strip_accents: pick([null, true, false]), lowercase: chance(0.8) }),
      () => normSeq([{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }]),
      () => normSeq([{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }]),
      () => normSeq([...extra, { type: 'Lowercase' }]),
    ])();
    pre = pick([
      () => ({ type: 'BertPreTokenizer' }),
      () => ({ type: 'Whitespace' }),
      () => preSeq([{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: pick(behaviors) },
                    { type: 'Digits', individual_digits: chance(0.5) }]),
      () => preSeq([{ type: 'CharDelimiterSplit', delimiter: ' ' }, { type: 'Punctuation', behavior: 'Isolated' }]),
      () => preSeq([{ type: 'Split', pattern: { String: ' ' }, behavior: pick(behaviors), invert: false },
                    { type: 'Split', pattern: { Regex: "[\\p{P}\\p{S}]" }, behavior: 'Isolated', invert: false }]),
    ])();
    decoder = prefix ? { type: 'WordPiece', prefix: '##', cleanup: chance(0.5) }
      : { type: 'BPEDecoder', suffix: '</w>' };
    if (chance(0.15)) decoder = { type: 'CTC', pad_token: '<pad>', word_delimiter_token: pick(['|', '##', 'a']), cleanup: chance(0.5) };
    if (chance(0.2)) decoder = decSeq([decoder, { type: 'Strip', content: ' ', start: 1, stop: 0 }]);
    if (chance(0.1)) decoder = decSeq([{ type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, decoder]);
  }
  desc.push(JSON.stringify(normalizer && (normalizer.type === 'Sequence' ? normalizer.normalizers.map(n => n.type) : normalizer.type)));
  desc.push(JSON.stringify(pre && (pre.type === 'Sequence' ? pre.pretokenizers.map(n => n.type) : pre.type)));

  // added tokens after the vocabulary, with every flag at random
  const added = [];
  let next = vocabList.length;
  if (unk) added.push({ id: vocab[unk], content: unk, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const candidates = ['<s>', '</s>', '<s', '<|eot_id|>', '<|im_start|>', '<|endoftext|>', '[MASK]', '[Mask]', '<mask>',
                      'the', ' and', 'ing', '\u2581the', 'É', '$', '{{', '\n\n', '  ', '<pad>'];
  for (const c of candidates) {
    if (!chance(0.4)) continue;
    const special = chance(0.5);
    const existing = vocab[c];
    // (no lstrip on a token that starts with white space: matched inside the white space an rstrip token
    // took, HuggingFace's find_matches makes a span that ends before it starts and panics)
    added.push({ id: existing !== undefined ? existing : next++, content: c, single_word: chance(0.3),
                 lstrip: !/^\s/u.test(c) && chance(0.3), rstrip: chance(0.3),
                 // (nor normalized white space, which a Strip can make empty: an empty pattern makes it panic too)
                 normalized: !/^\s*$/u.test(c) && (special ? chance(0.2) : chance(0.7)), special });
  }
  desc.push(`added ${added.length}`);
  return {
    json: { version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer,
            pre_tokenizer: pre, post_processor: null, decoder, model },
    desc: desc.filter(x => x).join(' '),
  };
}

fs.mkdirSync(outDir, { recursive: true });
const styles = ['sp_normalizer', 'sp_pretokenizer', 'bytelevel', 'wordpiece'];
const probe = ['Hello world', '  two  spaces ', 'ÀÉ ﬁ ½ 東京 ทดสอบ 😀👍🏽', '<s>the [MASK] and</s>', ''];
let refused = 0;
(async () => {
for (let i = 1; i <= COUNT; i++) {
  for (let tries = 0; ; tries++) {
    const { json, desc } = build(styles[(i - 1) % styles.length]);
    const file = path.join(outDir, `pipe${String(i).padStart(3, '0')}.json`);
    fs.writeFileSync(file, JSON.stringify(json));
    let ok = true;
    try {
      const t = Tokenizer.fromFile(file);
      await t.encodeBatch(probe, { addSpecialTokens: false });
    } catch (e) {
      ok = false;
    }
    if (ok) { console.log(`${path.basename(file)} ${desc}`); break; }
    refused++;
    if (tries > 50) { console.error(`pipelines: no pipeline HuggingFace accepts for ${file}`); process.exit(1); }
  }
}
if (refused) console.log(`(${refused} drawn pipelines refused by HuggingFace and drawn again)`);
})();
