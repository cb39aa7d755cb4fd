// c_format.js - C source text for the generated headers: string literals
// (octal escapes, split into pieces of at most 70 characters) and tables
// of ranges (items filled into lines of at most 92 columns).
'use strict';

const PIECE = 70;
const WIDTH = 92;

// The escaped form of each byte of buf: printable ASCII as itself (but
// '"', '\\' and '?', the last against trigraphs), the rest in octal.
function escapes(buf) {
    const out = [];
    for (const b of buf) {
        if (b === 0x22 || b === 0x5c)
            out.push('\\' + String.fromCharCode(b));
        else if (b >= 0x20 && b < 0x7f && b !== 0x3f)
            out.push(String.fromCharCode(b));
        else
            out.push('\\' + b.toString(8).padStart(3, '0'));
    }
    return out;
}

// A C string literal for text (a string, taken as UTF-8, or a Buffer):
// pieces of at most PIECE characters, the later ones on lines of their
// own indented by `indent` spaces.
function literal(text, indent) {
    const buf = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
    const pieces = [];
    let cur = '';
    for (const e of escapes(buf)) {
        if (cur.length + e.length > PIECE) {
            pieces.push(cur);
            cur = '';
        }
        cur += e;
    }
    pieces.push(cur);
    return pieces.map((p) => '"' + p + '"').join('\n' + ' '.repeat(indent));
}

const hex = (n) => (n < 0 ? '-0x' + (-n).toString(16) : '0x' + n.toString(16)).toUpperCase().replace('0X', '0x');

// The body lines of a table: items (strings such as "{0x41, 0x5A}")
// separated by ", ", each line indented by four spaces and ended by ",".
function fill(items) {
    const lines = [];
    let cur = '';
    for (const it of items) {
        if (cur && 4 + cur.length + 2 + it.length + 1 > WIDTH) {
            lines.push('    ' + cur + ',');
            cur = '';
        }
        cur = cur ? cur + ', ' + it : it;
    }
    if (cur)
        lines.push('    ' + cur + ',');
    return lines.join('\n');
}

// A table of {lo, hi} ranges as C items.
const rangeItems = (ranges) => ranges.map(([lo, hi]) => '{' + hex(lo) + ', ' + hex(hi) + '}');

// Sorted code points (or a membership predicate over 0..0x10FFFF) as ranges.
function toRanges(cps) {
    const r = [];
    for (const c of cps) {
        const last = r[r.length - 1];
        if (last && last[1] + 1 === c)
            last[1] = c;
        else
            r.push([c, c]);
    }
    return r;
}

module.exports = { literal, fill, rangeItems, toRanges, hex };
