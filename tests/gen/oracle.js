// oracle.js - the reference (HuggingFace tokenizers, the npm package
// `tokenizers`, found through NODE_PATH as tests/oracle/conformance.sh sets it)
// reduced to what the generators ask of it: one normalizer or one
// pre-tokenizer built from its tokenizer.json description.
'use strict';
const { Tokenizer } = require('tokenizers');

// A tokenizer.json with an empty BPE model and the given parts.
function tokenizerJson(parts) {
    return JSON.stringify(Object.assign({
        version: '1.0', truncation: null, padding: null, added_tokens: [],
        normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
        model: {
            type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
            end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
            ignore_merges: false, vocab: {}, merges: [],
        },
    }, parts));
}

// text -> normalized text, for a normalizer given as an object.
function normalizer(config) {
    const n = Tokenizer.fromString(tokenizerJson({ normalizer: config })).getNormalizer();
    return (text) => n.normalizeString(text);
}

// text -> [piece, ...], for a pre-tokenizer given as an object.
function preTokenizer(config) {
    const p = Tokenizer.fromString(tokenizerJson({ pre_tokenizer: config })).getPreTokenizer();
    return (text) => p.preTokenizeString(text).map((e) => e[0]);
}

module.exports = { normalizer, preTokenizer };
