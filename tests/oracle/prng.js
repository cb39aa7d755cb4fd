// prng.js - the seeded generator the test-data scripts share (mulberry32):
// the same seed gives the same texts and tokenizers on every machine.
'use strict';
module.exports = function prng(seed) {
  let s = seed >>> 0;
  return function rand() {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};
