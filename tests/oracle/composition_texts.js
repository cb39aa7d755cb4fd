// composition_texts.js - texts on which Unicode composition can go wrong,
// for tests/oracle/conformance.sh (COMPOSITION=1): one JSON line {"q", "a"} per
// text. Every character with a canonical decomposition, alone and as its
// decomposition, with a combining mark between or after the parts (which
// blocks or extends the composition); every character with a
// compatibility decomposition alone, after a letter with a mark after it,
// and before two marks; conjoining Hangul: every leading consonant with
// every vowel (and a trailing consonant or an old jamo after), every LV
// syllable with U+11A7 (the trailing count's base, no consonant), the
// first and last trailing consonants, U+11C3 (past them), an old one,
// the filler and a vowel, and old jamo after syllables. A fixed seed. A
// run like this with NFC and NFKC tokenizers found U+11A7 dropped after
// LV syllables (490 texts).
'use strict';

let seed = 5;
const rnd = n => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const marks = [];
for (let c = 0x300; c < 0x370; c++) marks.push(c);
marks.push(0x1dc0, 0x20d0, 0x0591, 0x05b0, 0x064b, 0x093c, 0x094d, 0x0e38, 0x0f71, 0x302a, 0x3099, 0x309a);
const mark = () => String.fromCodePoint(marks[rnd(marks.length)]);
const out = [];
const add = t => out.push(t);

for (let cp = 0; cp <= 0x10ffff; cp++) {
  if ((cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0xac00 && cp <= 0xd7a3)) continue;   // syllables: below
  const ch = String.fromCodePoint(cp);
  const d = ch.normalize('NFD');
  if (d !== ch) {
    add(d);
    add(ch);
    const parts = [...d];
    if (parts.length >= 2) {
      add(parts[0] + mark() + parts.slice(1).join(''));
      add(d + mark());
    }
  } else if (ch.normalize('NFKD') !== ch) {
    add(ch);
    add('a' + ch + mark());
    add(ch + '\u0301\u0323');
  }
}
const T = [0x11a7, 0x11a8, 0x11c2, 0x11c3, 0x11ff];
for (let l = 0x1100; l <= 0x1112; l++)
  for (let v = 0x1161; v <= 0x1175; v++) {
    add(String.fromCodePoint(l, v));
    add(String.fromCodePoint(l, v, T[rnd(T.length)]));
  }
for (let s = 0xac00; s <= 0xd7a3; s += 28)
  for (const t of [0x11a7, 0x11a8, 0x11b0, 0x11c2, 0x11c3, 0x11ff, 0x1160, 0x1161])
    add(String.fromCodePoint(s, t));
for (let i = 0; i < 600; i++)
  add(String.fromCodePoint(0xac00 + rnd(11172), [0x11a7, 0x11a8, 0x11c2, 0x11c3][rnd(4)]) + mark());
for (let l = 0x1113; l < 0x1160; l += 3) {
  add(String.fromCodePoint(l, 0x1161, 0x11a8));
  add(String.fromCodePoint(0x1100, l));
}
for (let v = 0x1176; v < 0x11a8; v++) {
  add(String.fromCodePoint(0x1100, v));
  add(String.fromCodePoint(0xac00, v));
}
process.stdout.write(out.map((a, i) => JSON.stringify({ q: 'c' + i, a })).join('\n') + '\n');
