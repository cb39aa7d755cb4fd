// models.js OUTDIR TRAIN_FILE: trains WordLevel, WordPiece and Unigram
// tokenizers with HuggingFace tokenizers (npm) on the text file
// TRAIN_FILE and writes them to OUTDIR as model*.json in several
// pipelines each (normalizers, pre-tokenizers, decoders, unk handling,
// byte fallback, smaller vocabularies), for tests/oracle/conformance.sh
// (MODELS=1). Prints one line per file: its name and what it holds.
// SentencePiece charsmaps (PRECOMPILED_CHARSMAPS="RULE.b64 ...", base64,
// from SentencePiece models: tests/oracle/spm_charsmap.py) add Unigram pipelines
// with a Precompiled normalizer.
const fs = require('fs');
const path = require('path');
const tk = require('tokenizers');

const [outDir, trainFile] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });

function train(model, normalizer, pre) {
  const t = new tk.Tokenizer(model);
  if (normalizer) t.setNormalizer(normalizer);
  if (pre) t.setPreTokenizer(pre);
  t.train([trainFile]);
  const f = path.join(outDir, '.trained.json');
  t.save(f);
  const j = JSON.parse(fs.readFileSync(f, 'utf8'));
  fs.unlinkSync(f);
  return j;
}

const out = [];
function emit(j, what) {
  const name = 'model' + String(out.length + 1).padStart(2, '0') + '.json';
  fs.writeFileSync(path.join(outDir, name), JSON.stringify(j));
  out.push(name + ' ' + what);
}

// an object vocabulary (WordLevel, WordPiece) cut to its first n ids,
// unk added at the end when missing
function cutVocab(vocab, n, unk) {
  const v = {};
  let k = 0;
  for (const [s, id] of Object.entries(vocab).sort((a, b) => a[1] - b[1]))
    if (id < n) { v[s] = k++; }
  if (unk !== null && !(unk in v)) v[unk] = k++;
  return v;
}

const bert = (o) => Object.assign({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
  strip_accents: null, lowercase: true }, o || {});
const metaspace = (scheme, split) => ({ type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme,
  split: split });
const wpDecoder = (cleanup) => ({ type: 'WordPiece', prefix: '##', cleanup: cleanup });
const spDecoder = { type: 'Sequence', decoders: [
  { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
  { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] };

// ---- WordLevel
{
  const j = train(tk.WordLevel.empty(), tk.bertNormalizer(), tk.bertPreTokenizer());
  j.model.vocab = cutVocab(j.model.vocab, 1e9, '[UNK]');
  j.model.unk_token = '[UNK]';
  emit(j, 'WordLevel, BertNormalizer, BertPreTokenizer, unk [UNK], no decoder');
  const k = JSON.parse(JSON.stringify(j));
  k.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] };
  k.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Digits',
    individual_digits: true }] };
  k.model.vocab = cutVocab(j.model.vocab, 400, '<unk>');
  k.model.unk_token = '<unk>';
  k.decoder = wpDecoder(true);
  emit(k, 'WordLevel of 400 words, NFKC+Lowercase, Whitespace+Digits, WordPiece decoder');
}
{
  const j = train(tk.WordLevel.empty(), null, tk.whitespaceSplitPreTokenizer());
  j.model.vocab = cutVocab(j.model.vocab, 3000, '<unk>');
  j.model.unk_token = '<unk>';
  j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
    { type: 'Punctuation', behavior: 'Isolated' }] };
  j.decoder = { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: ' ' }, content: '_' }] };
  emit(j, 'WordLevel, no normalizer, WhitespaceSplit+Punctuation, Replace decoder');
}
// ---- WordPiece
{
  const j = train(tk.WordPiece.empty(), tk.bertNormalizer(), tk.bertPreTokenizer());
  j.model.vocab = cutVocab(j.model.vocab, 1e9, '[UNK]');
  j.decoder = wpDecoder(true);
  emit(j, 'WordPiece (BERT: BertNormalizer, BertPreTokenizer, WordPiece decoder with cleanup)');
  const k = JSON.parse(JSON.stringify(j));
  k.normalizer = bert({ lowercase: false, strip_accents: false });
  k.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
    { type: 'Punctuation', behavior: 'Isolated' }, { type: 'Digits', individual_digits: false }] };
  k.model.vocab = cutVocab(j.model.vocab, 700, '[UNK]');
  k.model.max_input_chars_per_word = 9;
  k.decoder = wpDecoder(false);
  emit(k, 'WordPiece of 700, cased BertNormalizer, WhitespaceSplit+Punctuation+Digits, max 9 chars');
  const l = JSON.parse(JSON.stringify(j));
  l.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' },
    { type: 'Lowercase' }] };
  l.pre_tokenizer = { type: 'Whitespace' };
  const v = {};
  for (const [s, id] of Object.entries(l.model.vocab)) v[s.startsWith('##') ? '@@' + s.slice(2) : s] = id;
  l.model.vocab = v;
  l.model.continuing_subword_prefix = '@@';
  l.decoder = { type: 'WordPiece', prefix: '@@', cleanup: true };
  emit(l, 'WordPiece, prefix @@, NFD+StripAccents+Lowercase, Whitespace');
}
// ---- Unigram
function unigramVocab(vocab, n, unkAt, bytes) {
  let v = vocab.slice(0, n);
  if (unkAt !== null) v.splice(Math.min(unkAt, v.length), 0, ['<unk>', 0.0]);
  if (bytes) for (let b = 0; b < 256; b++)
    v.push(['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>', 0.0]);
  return v;
}
{
  const j = train(tk.Unigram.empty(), tk.nmt(), tk.metaspacePreTokenizer());
  const base = j.model.vocab;
  j.model.vocab = unigramVocab(base, 1e9, 0, false);
  j.model.unk_id = 0;
  j.decoder = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
  emit(j, 'Unigram (T5 style: Nmt, Metaspace always, unk 0, Metaspace decoder)');
  const k = JSON.parse(JSON.stringify(j));
  k.normalizer = { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
    { type: 'Strip', strip_left: false, strip_right: true }, { type: 'NFKC' }] };
  k.pre_tokenizer = metaspace('first', false);
  k.model.vocab = unigramVocab(base, 900, 5, true);
  k.model.unk_id = 5;
  k.model.byte_fallback = true;
  k.decoder = spDecoder;
  emit(k, 'Unigram of 900 with byte_fallback, Replace+Strip+NFKC, Metaspace first unsplit, unk 5');
  const l = JSON.parse(JSON.stringify(j));
  l.normalizer = null;
  l.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace('always', true)] };
  l.model.vocab = unigramVocab(base, 250, 40, false);
  l.model.unk_id = 40;
  l.decoder = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true };
  emit(l, 'Unigram of 250 (many unk, fused), WhitespaceSplit+Metaspace, Metaspace decoder never');
  const o = JSON.parse(JSON.stringify(j));
  o.pre_tokenizer = { type: 'Sequence', pretokenizers: [metaspace('always', true), { type: 'UnicodeScripts' }] };
  o.model.vocab = unigramVocab(base, 2000, 0, false);
  emit(o, 'Unigram of 2000, Nmt, Metaspace+UnicodeScripts');
  // SentencePiece charsmaps (base64 files, one per normalization rule)
  const maps = (process.env.PRECOMPILED_CHARSMAPS || '').split(' ').filter(f => f);
  maps.forEach((f, i) => {
    const charsmap = fs.readFileSync(f, 'utf8').trim();
    const rule = path.basename(f).replace(/\.b64$/, '');
    const n = JSON.parse(JSON.stringify(j));
    n.normalizer = { type: 'Sequence', normalizers: [{ type: 'Precompiled', precompiled_charsmap: charsmap },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '\u2581' }] };
    n.pre_tokenizer = metaspace(i % 2 ? 'first' : 'always', true);
    emit(n, 'Unigram (XLM-R style: Precompiled ' + rule + ' + Replace, Metaspace ' +
      (i % 2 ? 'first' : 'always') + ')');
    const q = JSON.parse(JSON.stringify(k));
    q.normalizer = { type: 'Precompiled', precompiled_charsmap: charsmap };
    q.pre_tokenizer = metaspace(i % 2 ? 'always' : 'first', true);
    emit(q, 'Unigram of 900 with byte_fallback, Precompiled ' + rule + ' alone, Metaspace ' +
      (i % 2 ? 'always' : 'first'));
  });
}
{
  const j = train(tk.WordPiece.empty(), tk.bertNormalizer(), tk.bertPreTokenizer());
  j.model.vocab = cutVocab(j.model.vocab, 2500, '[UNK]');
  j.normalizer = bert({ handle_chinese_chars: false });
  j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'UnicodeScripts' },
    { type: 'Punctuation', behavior: 'Isolated' }] };
  j.decoder = wpDecoder(true);
  emit(j, 'WordPiece of 2500, BertNormalizer without Chinese, WhitespaceSplit+UnicodeScripts+Punctuation');
}
// Unigram with no pre-tokenizer (the whole answer one piece, previewed on
// windows of it): the metaspace put in by the normalizer, as Llama-2's
{
  const j = train(tk.Unigram.empty(), tk.nmt(), tk.metaspacePreTokenizer());
  const base = j.model.vocab;
  j.normalizer = { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' },
    { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] };
  j.pre_tokenizer = null;
  const k = JSON.parse(JSON.stringify(j));
  j.model.vocab = unigramVocab(base, 900, 5, true);
  j.model.unk_id = 5;
  j.model.byte_fallback = true;
  j.decoder = spDecoder;
  emit(j, 'Unigram of 900 with byte_fallback, Prepend+Replace, no pre-tokenizer, unk 5');
  k.model.vocab = unigramVocab(base, 250, 40, false);
  k.model.unk_id = 40;
  k.decoder = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
  emit(k, 'Unigram of 250 (many unk, fused), Prepend+Replace, no pre-tokenizer, Metaspace decoder');
}
console.log(out.join('\n'));
