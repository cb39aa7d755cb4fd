// long_texts.js - long hostile answers for tests/oracle/conformance.sh (LONG=1):
// one JSON line {"q": ..., "a": ...} per text, 2-64 KB each. Runs without
// a space, runs of spaces, digits, new lines, CJK and Thai, emoji
// sequences, a base character under thousands of combining marks,
// added-token strings back to back, then mixes of short hostile pieces.
// A fixed seed: the same texts every run.
'use strict';

let seed = 12345;
const rnd = n => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const rep = (s, n) => s.repeat(Math.max(1, Math.floor(n / s.length)));
const pick = a => a[rnd(a.length)];
const run = (from, count, n) => {
  let t = '';
  for (let i = 0; i < n; i++) t += String.fromCodePoint(from + rnd(count));
  return t;
};

const pieces = [
  'the', 'The', 'answer', "don't", "I'M", '<s>', '</s>', '<unk>', '<|eot_id|>', '<|endoftext|>',
  '<|im_start|>', '<start_of_turn>', '<', '<<', '>>', '\u2581', '\u2581\u2581', '\u0120', '\u010a',
  ' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', '\u00a0', '\u3000', '\u2003', '\u200b', '\u00ad',
  '\u2028', '\ufb01', '\ufb00', 'e\u0301', '\u00e9', '\u212b', '\u2167', 'x\u00b2', '\uff21\uff22',
  '\uff76\uff80', '12', '3.14', '1,000,000', '-42', '$5', '45%', '!!!', '...', '?!', '--', '\u2014',
  '\u201cq\u201d', '\u{1F600}', '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}', '\u{1F1EF}\u{1F1F5}',
  '\u{1F44D}\u{1F3FD}', '\u2764\ufe0f', '\u0645\u0631\u062d\u0628\u0627',
  '\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd', '\u0928\u092e\u0938\u094d\u0924\u0947',
  '\ud55c\uad6d\uc5b4', '\u1112\u1161\u11ab', '\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35', '\ufeff',
  '\u0001', '\u007f', '\ufffd', '\\', '"', '/',
];
const mix = n => {
  let t = '';
  while (t.length < n) t += pick(pieces) + (rnd(3) ? ' ' : '');
  return t;
};

const texts = [
  rep('a', 60000), rep('ab', 40000) + ' end', rep('1234567890', 60000), rep(' ', 60000) + 'x',
  rep('\n', 30000), 'x' + rep(' ', 20000), rep('\u2581', 20000), rep('<s>', 30000),
  rep('<', 20000) + 's>', run(0x4E00, 0x5000, 20000), run(0x0E01, 0x4A, 20000),
  rep('\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}', 40000), 'a' + rep('\u0301', 10000) + ' b',
  rep('e\u0301', 30000), rep('\ufb01', 20000), rep('\uff21', 20000), rep('1,', 30000) + '5',
  rep("don't ", 40000), rep('Supercalifragilistic', 60000), rep('\u00a0', 20000) + 'y',
];
for (let i = 0; i < 24; i++) texts.push(mix(2000 + rnd(62000)));
process.stdout.write(texts.map((a, i) => JSON.stringify({ q: 'long' + i, a })).join('\n') + '\n');
