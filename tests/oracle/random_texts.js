// random_texts.js - random hostile answers for tests/oracle/conformance.sh
// (RANDOM_TEXTS=N): one JSON line {"q": ..., "a": ...} per text. Pieces
// of CJK, kana, Hangul syllables and conjoining jamo, Thai, Devanagari,
// Arabic and Hebrew with direction marks, emoji sequences (ZWJ, skin
// tones, flags, keycaps, variation selectors), stacked combining marks,
// full-width forms, ligatures, odd white space, control characters,
// special-token strings glued to words, long words, digit runs,
// punctuation runs, supplementary-plane characters and Latin in NFC and
// NFD, mixed at random; 3% empty, 4% white space only, a few up to 20
// KB; a tenth of the records escape every non-ASCII character. Such a
// run found U+11A7 dropped after Hangul syllables by NFC (whole
// encodings, Qwen-2.5 and Command-R+). A fixed seed: the same texts for
// the same arguments.
// usage: node tests/oracle/random_texts.js [SEED] [COUNT]   env: MAXLEN (short texts only)
'use strict';
const SEED = parseInt(process.argv[2] || '20250611', 10) >>> 0;
const COUNT = parseInt(process.argv[3] || '3000', 10);

const rand = require('./prng')(SEED);
const ri = n => Math.floor(rand() * n);            // 0..n-1
const rr = (a, b) => a + ri(b - a + 1);            // a..b
const pick = a => a[ri(a.length)];
const cp = c => String.fromCodePoint(c);
const range = (a, b) => cp(rr(a, b));
const many = (f, n) => { let t = ''; for (let i = 0; i < n; i++) t += f(); return t; };

const WS = ['\u00a0', '\u1680', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006',
  '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff',
  '\t', '\r', '\n', '\v', '\f', ' ', ' ', ' ', '\r\n', '\u0085', '\u200b'];
const SPECIAL = ['<s>', '</s>', '<unk>', '<|endoftext|>', '<|eot_id|>', '<|begin_of_text|>',
  '<start_of_turn>', '<|im_start|>', '[INST]', '<|im_end|>', '<end_of_turn>', '[/INST]', '<pad>',
  '<|start_header_id|>', '<|end_header_id|>', '<mask>', '<bos>', '<eos>', '<|endofprompt|>', '<|',
  '|>', '<s', 's>', '</', '<|eot_id', '[INST', '<<SYS>>'];
const WORDS = ['the', 'The', 'answer', 'is', "don't", "I'M", "we'll", "they've", "it's", "'s", "'S",
  'hello', 'World', 'HTTP', 'x', 'a', 'I', 'Supercalifragilistic', 'tokenization', 'naïve', 'ünïcödé',
  'résumé', 'Ångström', 'Tiếng Việt', 'Straße', 'İstanbul', 'ǅemal', 'œuvre', 'Æsop', 'ﬁne', 'ﬂow',
  'fooBar', 'snake_case', 'kebab-case', 'CamelCaseWord', 'e.g.', 'U.S.A.', 'http://x.y/z?q=1&r=2',
  'a@b.co', '#hashtag', '@user', 'C++', 'f(x)=x^2', '3.14159', '1,000,000', '-42', '$5.00', '45%',
  '12:30', '2024-01-01', '0x7FFF', '1e-9', '½', 'x²', 'Ⅷ', 'Ω', 'µ', 'ﬀ', 'ﬃ', 'ﬄ', 'ﬅ', 'ﬆ',
  '▁', '▁▁', 'Ġ', 'Ċ', '\\n', '\\', '"', "'", '`', '/', 'ðŁĺĢ', '�', 'Ã©'];
const ACCENTED = ['café', 'naïve', 'façade', 'Ångström', 'résumé', 'jalapeño', 'Zürich', 'crème brûlée',
  'São Paulo', 'Dvořák', 'Łódź', 'Tiếng Việt', 'Nguyễn', 'ñandú', 'Ærøskøbing', 'İğdır', 'Škoda',
  'Ελληνικά', 'Ἀθῆναι', 'Кириллица', 'Ё', 'й', 'ǖǘǚǜ', 'ḱṓṣ', 'Ṩ', 'ệ', 'ẫ', 'ǻ', 'Ǻ', 'ṏ'];
const EMOJI_BASE = [0x1F600, 0x1F602, 0x1F60D, 0x1F44D, 0x1F44B, 0x1F468, 0x1F469, 0x1F467, 0x1F466,
  0x1F9D1, 0x1F680, 0x1F525, 0x1F4A9, 0x1F308, 0x1F3F3, 0x1F3F4, 0x2764, 0x263A, 0x2615, 0x26A1,
  0x1F937, 0x1F926, 0x1F46A, 0x1F9D9, 0x1FAE0, 0x1FAF6, 0x1F91D, 0x1F590, 0x270C, 0x1F4BB];
const ZWJ_SEQS = ['👨‍👩‍👧‍👦', '👩‍❤️‍💋‍👨', '🏳️‍🌈', '🏳️‍⚧️', '👩🏽‍💻', '🧑🏿‍🚀', '👨‍👨‍👧', '🐻‍❄️',
  '❤️‍🔥', '🧔🏻‍♂️', '👁️‍🗨️', '🏴‍☠️', '🤷🏾‍♀️', '🏃‍➡️', '🧑‍🤝‍🧑', '🫱🏻‍🫲🏿',
  '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}'];
const COMB = () => range(0x300, 0x36F);

const gens = {
  cjk: () => many(() => pick([() => range(0x4E00, 0x9FFF), () => range(0x4E00, 0x4FFF),
    () => range(0x3041, 0x3096), () => range(0x30A1, 0x30FA), () => pick(['ー', '。', '、', '「', '」', '・', '〜']),
    () => range(0xFF66, 0xFF9D), () => range(0x3400, 0x4DBF), () => pick(['の', 'は', 'を', 'です', 'ます', '中国', '日本語'])])(), rr(1, 40)),
  hangul: () => many(() => pick([() => range(0xAC00, 0xD7A3), () => range(0x1100, 0x11FF),
    () => range(0x3131, 0x318E), () => range(0x1100, 0x1112) + range(0x1161, 0x1175) + (ri(2) ? range(0x11A8, 0x11C2) : ''),
    () => ' '])(), rr(1, 30)),
  thai: () => many(() => pick([() => range(0x0E01, 0x0E2E), () => range(0x0E30, 0x0E3A),
    () => range(0x0E40, 0x0E4E), () => range(0x0E50, 0x0E59), () => 'สวัสดีครับ', () => 'ภาษาไทย'])(), rr(1, 40)),
  deva: () => many(() => pick([() => range(0x0905, 0x0939), () => range(0x0905, 0x0939) + '\u094D' + range(0x0915, 0x0939),
    () => range(0x093E, 0x094C), () => pick(['\u0902', '\u0903', '\u0901', '\u093C', '\u094D', '\u0964', '\u0965']),
    () => 'नमस्ते', () => 'क्षत्रिय', () => range(0x0966, 0x096F)])(), rr(1, 30)),
  arabic: () => many(() => pick([() => range(0x0621, 0x064A), () => range(0x064B, 0x0652),
    () => range(0x0660, 0x0669), () => '\u200F', () => '\u200E', () => '\u061C', () => ' ',
    () => 'مرحبا', () => 'بِسْمِ', () => pick(['\u202B', '\u202C', '\u202E', '\u2066', '\u2069'])])(), rr(1, 40)),
  hebrew: () => many(() => pick([() => range(0x05D0, 0x05EA), () => range(0x05B0, 0x05BD),
    () => '\u05C1', () => '\u05C2', () => '\u200F', () => '\u200E', () => ' ', () => 'שָׁלוֹם', () => 'עולם'])(), rr(1, 40)),
  emoji: () => many(() => pick([
    () => cp(pick(EMOJI_BASE)),
    () => cp(pick(EMOJI_BASE)) + range(0x1F3FB, 0x1F3FF),
    () => pick(ZWJ_SEQS),
    () => range(0x1F1E6, 0x1F1FF) + range(0x1F1E6, 0x1F1FF),
    () => pick(['🇫🇷', '🇯🇵', '🇺🇸', '🇩🇪', '🇨🇳', '🇰🇷']),
    () => range(0x1F1E6, 0x1F1FF),
    () => cp(pick(EMOJI_BASE)) + '\uFE0F',
    () => pick(['0', '1', '9', '#', '*']) + '\uFE0F\u20E3',
    () => pick(['0', '1', '#']) + '\u20E3',
    () => '\uFE0F', () => '\u200D', () => '\uFE0E',
    () => cp(pick(EMOJI_BASE)) + '\u200D' + cp(pick(EMOJI_BASE)),
  ])(), rr(1, 15)),
  combining: () => {
    const base = pick(['a', 'e', 'Z', 'o', ' ', ' ', '', 'ß', 'ı', '字', '1', '\u00a0', '\n']);
    return base + many(COMB, rr(1, ri(6) ? 12 : 80));
  },
  zalgo: () => many(() => pick(['a', 'l', 'g', 'o', ' ', 'x']) + many(COMB, rr(0, 6)), rr(1, 20)),
  fullwidth: () => many(() => range(0xFF01, 0xFF5E), rr(1, 25)),
  ligature: () => many(() => pick([() => range(0xFB00, 0xFB06), () => pick(WORDS)])(), rr(1, 8)),
  ws: () => many(() => pick(WS), rr(1, 8)),
  ctrl: () => many(() => pick([() => range(0x01, 0x1F), () => '\u007f', () => '\u001b[31m', () => 'x'])(), rr(1, 6)),
  special: () => {
    const t = pick(SPECIAL);
    const w = pick(WORDS);
    return pick([t, w + t, t + w, w + t + w, ' ' + t + ' ', t + t, t + ' ' + t, '\n' + t, t + '\n',
      t.slice(0, ri(t.length + 1)) + t.slice(ri(t.length + 1))]);
  },
  longword: () => {
    const n = rr(200, 5000);
    return pick([
      () => 'a'.repeat(n),
      () => many(() => cp(97 + ri(26)), n),
      () => many(() => pick(['ab', 'xy', 'ing', 'tion'])  , Math.ceil(n / 3)),
      () => many(() => cp(rr(0xC0, 0x17F)), n).replace(/[\u00d7\u00f7]/g, 'q'),
      () => 'e\u0301'.repeat(Math.ceil(n / 2)),
      () => many(() => range(0x4E00, 0x9FFF), n),
      () => many(() => range(0x0E01, 0x0E2E), n),
      () => 'Supercalifragilistic'.repeat(Math.ceil(n / 20)),
      () => many(() => cp(65 + ri(26)) + cp(97 + ri(26)), Math.ceil(n / 2)),
    ])();
  },
  digits: () => pick([
    () => many(() => cp(48 + ri(10)), rr(2, ri(4) ? 60 : 2000)),
    () => '1'.repeat(rr(5, 500)),
    () => many(() => range(0xFF10, 0xFF19), rr(2, 40)),
    () => many(() => range(0x0660, 0x0669), rr(2, 40)),
    () => many(() => range(0x0966, 0x096F), rr(2, 40)),
    () => many(() => cp(48 + ri(10)) + pick([',', '.', '', '', ' ']), rr(2, 60)),
    () => many(() => range(0x1D7CE, 0x1D7FF), rr(2, 20)),
  ])(),
  punct: () => pick(['!', '?', '.', ',', '-', '—', '…', "'", '"', '`', '*', '#', '=', '~', '_', '/',
    '\\', '<', '>', '|', '(', ')', '[', ']', '{', '}', ':', ';', '!?', '?!', '...', '--', "''", '``',
    '<<', '>>', '。', '，', '！', '？', '、']).repeat(rr(2, ri(5) ? 20 : 300)),
  spaces: () => ' '.repeat(rr(2, ri(5) ? 10 : 200)),
  supp: () => pick([() => range(0x1F000, 0x1FAFF), () => range(0x20000, 0x2A6DF),
    () => range(0x1D400, 0x1D7FF), () => range(0x10000, 0x1007F), () => range(0xE0000, 0xE007F),
    () => range(0xF0000, 0xF00FF), () => range(0x10FF00, 0x10FFFD)])(),
  latin: () => {
    const w = pick(ACCENTED);
    return pick([w, w.normalize('NFD'), w.normalize('NFC'), w.normalize('NFKD'), w.normalize('NFD') + w.normalize('NFC')]);
  },
  word: () => pick(WORDS),
  sentence: () => many(() => pick(WORDS) + pick([' ', ' ', ' ', '  ', '', '\n', ', ', '. ']), rr(2, 15)),
};
const KEYS = Object.keys(gens);
const WEIGHTS = { word: 6, sentence: 6, ws: 5, special: 5, latin: 4, emoji: 4, combining: 3, cjk: 4,
  longword: 0.25, digits: 2, punct: 2, spaces: 3, supp: 3, ctrl: 2 };
const W = KEYS.map(k => WEIGHTS[k] || 2);
const WSUM = W.reduce((a, b) => a + b, 0);
function pickGen() {
  let r = rand() * WSUM;
  for (let i = 0; i < KEYS.length; i++) { r -= W[i]; if (r < 0) return KEYS[i]; }
  return KEYS[KEYS.length - 1];
}
// cut to at most n code points (never splits a surrogate pair)
const cut = (t, n) => { const a = [...t]; return a.length > n ? a.slice(0, n).join('') : t; };

function makeText(i) {
  const r = rand();
  if (r < 0.03) return '';
  if (r < 0.07) return many(() => pick(WS), rr(1, 12));            // whitespace only
  if (r < 0.10) return gens[pickGen()]();                           // one piece
  let limit;
  if (r < 0.11) limit = rr(2000, 20000);                            // a few long ones (up to ~20 KB)
  else limit = rr(1, 300);
  if (process.env.MAXLEN) limit = rr(1, +process.env.MAXLEN);   // optional: short texts only
  let t = '';
  const lead = ri(6) === 0 ? pick([' ', '  ', '\n', '\t', '\u3000', ' '.repeat(rr(3, 9))]) : '';
  const trail = ri(6) === 0 ? pick([' ', '  ', '\n', '\t', '\r\n', '\u00a0', ' '.repeat(rr(3, 9))]) : '';
  let guard = 0, hasLong = false;
  while ([...t].length < limit && guard++ < 5000) {
    const g = pickGen();
    let piece = gens[g]();
    if (g === 'longword') { t += piece; hasLong = true; break; }                   // long words: keep whole
    t += piece + pick(['', ' ', ' ', ' ', '', '\n', '  ', pick(WS)]);
  }
  if (!hasLong) t = cut(t, limit);
  return lead + t + trail;
}

// JSON string: like JSON.stringify, plus U+007F escaped; some records escape all non-ASCII
function enc(t, escAll) {
  let o = '"';
  for (const ch of t) {
    const c = ch.codePointAt(0);
    if (ch === '"') o += '\\"';
    else if (ch === '\\') o += '\\\\';
    else if (ch === '\n') o += '\\n';
    else if (ch === '\r') o += '\\r';
    else if (ch === '\t') o += '\\t';
    else if (ch === '\b') o += '\\b';
    else if (ch === '\f') o += '\\f';
    else if (c < 0x20 || c === 0x7f) o += '\\u' + c.toString(16).padStart(4, '0');
    else if (escAll && c > 0x7f) {
      if (c > 0xffff) { const h = ch.charCodeAt(0), l = ch.charCodeAt(1); o += '\\u' + h.toString(16) + '\\u' + l.toString(16).toUpperCase(); }
      else o += '\\u' + c.toString(16).padStart(4, '0');
    } else o += ch;
  }
  return o + '"';
}

const out = [];
for (let i = 0; i < COUNT; i++) {
  const t = makeText(i);
  if (/[\uD800-\uDFFF]/.test(t.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) throw new Error('lone surrogate at ' + i);
  out.push('{"q":"r' + (i + 1) + '","a":' + enc(t, ri(10) === 0) + '}');
}
process.stdout.write(out.join('\n') + '\n');
