/*
 * pretokenize.c - HuggingFace pre-tokenizers, built from tokenizer.json.
 *
 * A pre-tokenizer cuts a string into pieces and pushes them to a sink one
 * at a time, stopping as soon as the sink says so: nothing is scanned
 * beyond the piece the caller needed. Splitting follows the reference's
 * NormalizedString::split: a pattern yields a stream of (span, is_match)
 * elements covering the text (find_matches), a behaviour (Removed,
 * Isolated, MergedWithPrevious, MergedWithNext, Contiguous) groups them,
 * and empty pieces are dropped. Here the grouping is done on the fly.
 *
 * Scratch: a component that rewrites text (Metaspace, ByteLevel) writes
 * its pieces into w->pre[depth] (ByteLevel's prefixed head also uses
 * w->pre[depth + 1]); a Sequence gives each stage the slots after those
 * of the stages before it, so a piece stays valid while later stages
 * work on it.
 *
 * Character classes come from the reference (tokenizers 0.23.2), derived
 * by testing every code point: Rust's char::is_whitespace, the `\w` of
 * the Rust regex crate (Whitespace), char::is_numeric (Digits) and
 * ASCII-or-Unicode punctuation (Punctuation, BertPreTokenizer). The
 * ByteLevel and Split regular expressions run on Oniguruma (regex.c).
 */
#include "tokenizer/tk.h"
#include "tokenizer/scripts.h"

#include <stdlib.h>
#include <string.h>


/* ---- Unicode tables (generated from the reference, see above) -------- */
/* Whitespace pre-tokenizer: word characters (796 ranges) */
static const tk_range word_chars[] = {
    {0x30, 0x39}, {0x41, 0x5A}, {0x5F, 0x5F}, {0x61, 0x7A}, {0xAA, 0xAA}, {0xB5, 0xB5},
    {0xBA, 0xBA}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x2C1}, {0x2C6, 0x2D1}, {0x2E0, 0x2E4},
    {0x2EC, 0x2EC}, {0x2EE, 0x2EE}, {0x300, 0x374}, {0x376, 0x377}, {0x37A, 0x37D},
    {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1},
    {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x483, 0x52F}, {0x531, 0x556}, {0x559, 0x559},
    {0x560, 0x588}, {0x591, 0x5BD}, {0x5BF, 0x5BF}, {0x5C1, 0x5C2}, {0x5C4, 0x5C5},
    {0x5C7, 0x5C7}, {0x5D0, 0x5EA}, {0x5EF, 0x5F2}, {0x610, 0x61A}, {0x620, 0x669},
    {0x66E, 0x6D3}, {0x6D5, 0x6DC}, {0x6DF, 0x6E8}, {0x6EA, 0x6FC}, {0x6FF, 0x6FF},
    {0x710, 0x74A}, {0x74D, 0x7B1}, {0x7C0, 0x7F5}, {0x7FA, 0x7FA}, {0x7FD, 0x7FD},
    {0x800, 0x82D}, {0x840, 0x85B}, {0x860, 0x86A}, {0x870, 0x887}, {0x889, 0x88E},
    {0x897, 0x8E1}, {0x8E3, 0x963}, {0x966, 0x96F}, {0x971, 0x983}, {0x985, 0x98C},
    {0x98F, 0x990}, {0x993, 0x9A8}, {0x9AA, 0x9B0}, {0x9B2, 0x9B2}, {0x9B6, 0x9B9},
    {0x9BC, 0x9C4}, {0x9C7, 0x9C8}, {0x9CB, 0x9CE}, {0x9D7, 0x9D7}, {0x9DC, 0x9DD},
    {0x9DF, 0x9E3}, {0x9E6, 0x9F1}, {0x9FC, 0x9FC}, {0x9FE, 0x9FE}, {0xA01, 0xA03},
    {0xA05, 0xA0A}, {0xA0F, 0xA10}, {0xA13, 0xA28}, {0xA2A, 0xA30}, {0xA32, 0xA33},
    {0xA35, 0xA36}, {0xA38, 0xA39}, {0xA3C, 0xA3C}, {0xA3E, 0xA42}, {0xA47, 0xA48},
    {0xA4B, 0xA4D}, {0xA51, 0xA51}, {0xA59, 0xA5C}, {0xA5E, 0xA5E}, {0xA66, 0xA75},
    {0xA81, 0xA83}, {0xA85, 0xA8D}, {0xA8F, 0xA91}, {0xA93, 0xAA8}, {0xAAA, 0xAB0},
    {0xAB2, 0xAB3}, {0xAB5, 0xAB9}, {0xABC, 0xAC5}, {0xAC7, 0xAC9}, {0xACB, 0xACD},
    {0xAD0, 0xAD0}, {0xAE0, 0xAE3}, {0xAE6, 0xAEF}, {0xAF9, 0xAFF}, {0xB01, 0xB03},
    {0xB05, 0xB0C}, {0xB0F, 0xB10}, {0xB13, 0xB28}, {0xB2A, 0xB30}, {0xB32, 0xB33},
    {0xB35, 0xB39}, {0xB3C, 0xB44}, {0xB47, 0xB48}, {0xB4B, 0xB4D}, {0xB55, 0xB57},
    {0xB5C, 0xB5D}, {0xB5F, 0xB63}, {0xB66, 0xB6F}, {0xB71, 0xB71}, {0xB82, 0xB83},
    {0xB85, 0xB8A}, {0xB8E, 0xB90}, {0xB92, 0xB95}, {0xB99, 0xB9A}, {0xB9C, 0xB9C},
    {0xB9E, 0xB9F}, {0xBA3, 0xBA4}, {0xBA8, 0xBAA}, {0xBAE, 0xBB9}, {0xBBE, 0xBC2},
    {0xBC6, 0xBC8}, {0xBCA, 0xBCD}, {0xBD0, 0xBD0}, {0xBD7, 0xBD7}, {0xBE6, 0xBEF},
    {0xC00, 0xC0C}, {0xC0E, 0xC10}, {0xC12, 0xC28}, {0xC2A, 0xC39}, {0xC3C, 0xC44},
    {0xC46, 0xC48}, {0xC4A, 0xC4D}, {0xC55, 0xC56}, {0xC58, 0xC5A}, {0xC5D, 0xC5D},
    {0xC60, 0xC63}, {0xC66, 0xC6F}, {0xC80, 0xC83}, {0xC85, 0xC8C}, {0xC8E, 0xC90},
    {0xC92, 0xCA8}, {0xCAA, 0xCB3}, {0xCB5, 0xCB9}, {0xCBC, 0xCC4}, {0xCC6, 0xCC8},
    {0xCCA, 0xCCD}, {0xCD5, 0xCD6}, {0xCDD, 0xCDE}, {0xCE0, 0xCE3}, {0xCE6, 0xCEF},
    {0xCF1, 0xCF3}, {0xD00, 0xD0C}, {0xD0E, 0xD10}, {0xD12, 0xD44}, {0xD46, 0xD48},
    {0xD4A, 0xD4E}, {0xD54, 0xD57}, {0xD5F, 0xD63}, {0xD66, 0xD6F}, {0xD7A, 0xD7F},
    {0xD81, 0xD83}, {0xD85, 0xD96}, {0xD9A, 0xDB1}, {0xDB3, 0xDBB}, {0xDBD, 0xDBD},
    {0xDC0, 0xDC6}, {0xDCA, 0xDCA}, {0xDCF, 0xDD4}, {0xDD6, 0xDD6}, {0xDD8, 0xDDF},
    {0xDE6, 0xDEF}, {0xDF2, 0xDF3}, {0xE01, 0xE3A}, {0xE40, 0xE4E}, {0xE50, 0xE59},
    {0xE81, 0xE82}, {0xE84, 0xE84}, {0xE86, 0xE8A}, {0xE8C, 0xEA3}, {0xEA5, 0xEA5},
    {0xEA7, 0xEBD}, {0xEC0, 0xEC4}, {0xEC6, 0xEC6}, {0xEC8, 0xECE}, {0xED0, 0xED9},
    {0xEDC, 0xEDF}, {0xF00, 0xF00}, {0xF18, 0xF19}, {0xF20, 0xF29}, {0xF35, 0xF35},
    {0xF37, 0xF37}, {0xF39, 0xF39}, {0xF3E, 0xF47}, {0xF49, 0xF6C}, {0xF71, 0xF84},
    {0xF86, 0xF97}, {0xF99, 0xFBC}, {0xFC6, 0xFC6}, {0x1000, 0x1049}, {0x1050, 0x109D},
    {0x10A0, 0x10C5}, {0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x10D0, 0x10FA},
    {0x10FC, 0x1248}, {0x124A, 0x124D}, {0x1250, 0x1256}, {0x1258, 0x1258},
    {0x125A, 0x125D}, {0x1260, 0x1288}, {0x128A, 0x128D}, {0x1290, 0x12B0},
    {0x12B2, 0x12B5}, {0x12B8, 0x12BE}, {0x12C0, 0x12C0}, {0x12C2, 0x12C5},
    {0x12C8, 0x12D6}, {0x12D8, 0x1310}, {0x1312, 0x1315}, {0x1318, 0x135A},
    {0x135D, 0x135F}, {0x1380, 0x138F}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1401, 0x166C}, {0x166F, 0x167F}, {0x1681, 0x169A}, {0x16A0, 0x16EA},
    {0x16EE, 0x16F8}, {0x1700, 0x1715}, {0x171F, 0x1734}, {0x1740, 0x1753},
    {0x1760, 0x176C}, {0x176E, 0x1770}, {0x1772, 0x1773}, {0x1780, 0x17D3},
    {0x17D7, 0x17D7}, {0x17DC, 0x17DD}, {0x17E0, 0x17E9}, {0x180B, 0x180D},
    {0x180F, 0x1819}, {0x1820, 0x1878}, {0x1880, 0x18AA}, {0x18B0, 0x18F5},
    {0x1900, 0x191E}, {0x1920, 0x192B}, {0x1930, 0x193B}, {0x1946, 0x196D},
    {0x1970, 0x1974}, {0x1980, 0x19AB}, {0x19B0, 0x19C9}, {0x19D0, 0x19D9},
    {0x1A00, 0x1A1B}, {0x1A20, 0x1A5E}, {0x1A60, 0x1A7C}, {0x1A7F, 0x1A89},
    {0x1A90, 0x1A99}, {0x1AA7, 0x1AA7}, {0x1AB0, 0x1ACE}, {0x1B00, 0x1B4C},
    {0x1B50, 0x1B59}, {0x1B6B, 0x1B73}, {0x1B80, 0x1BF3}, {0x1C00, 0x1C37},
    {0x1C40, 0x1C49}, {0x1C4D, 0x1C7D}, {0x1C80, 0x1C8A}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1CD0, 0x1CD2}, {0x1CD4, 0x1CFA}, {0x1D00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
    {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D},
    {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4},
    {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x200C, 0x200D}, {0x203F, 0x2040},
    {0x2054, 0x2054}, {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C},
    {0x20D0, 0x20F0}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2160, 0x2188}, {0x24B6, 0x24E9},
    {0x2C00, 0x2CE4}, {0x2CEB, 0x2CF3}, {0x2D00, 0x2D25}, {0x2D27, 0x2D27},
    {0x2D2D, 0x2D2D}, {0x2D30, 0x2D67}, {0x2D6F, 0x2D6F}, {0x2D7F, 0x2D96},
    {0x2DA0, 0x2DA6}, {0x2DA8, 0x2DAE}, {0x2DB0, 0x2DB6}, {0x2DB8, 0x2DBE},
    {0x2DC0, 0x2DC6}, {0x2DC8, 0x2DCE}, {0x2DD0, 0x2DD6}, {0x2DD8, 0x2DDE},
    {0x2DE0, 0x2DFF}, {0x2E2F, 0x2E2F}, {0x3005, 0x3007}, {0x3021, 0x302F},
    {0x3031, 0x3035}, {0x3038, 0x303C}, {0x3041, 0x3096}, {0x3099, 0x309A},
    {0x309D, 0x309F}, {0x30A1, 0x30FA}, {0x30FC, 0x30FF}, {0x3105, 0x312F},
    {0x3131, 0x318E}, {0x31A0, 0x31BF}, {0x31F0, 0x31FF}, {0x3400, 0x4DBF},
    {0x4E00, 0xA48C}, {0xA4D0, 0xA4FD}, {0xA500, 0xA60C}, {0xA610, 0xA62B},
    {0xA640, 0xA672}, {0xA674, 0xA67D}, {0xA67F, 0xA6F1}, {0xA717, 0xA71F},
    {0xA722, 0xA788}, {0xA78B, 0xA7CD}, {0xA7D0, 0xA7D1}, {0xA7D3, 0xA7D3},
    {0xA7D5, 0xA7DC}, {0xA7F2, 0xA827}, {0xA82C, 0xA82C}, {0xA840, 0xA873},
    {0xA880, 0xA8C5}, {0xA8D0, 0xA8D9}, {0xA8E0, 0xA8F7}, {0xA8FB, 0xA8FB},
    {0xA8FD, 0xA92D}, {0xA930, 0xA953}, {0xA960, 0xA97C}, {0xA980, 0xA9C0},
    {0xA9CF, 0xA9D9}, {0xA9E0, 0xA9FE}, {0xAA00, 0xAA36}, {0xAA40, 0xAA4D},
    {0xAA50, 0xAA59}, {0xAA60, 0xAA76}, {0xAA7A, 0xAAC2}, {0xAADB, 0xAADD},
    {0xAAE0, 0xAAEF}, {0xAAF2, 0xAAF6}, {0xAB01, 0xAB06}, {0xAB09, 0xAB0E},
    {0xAB11, 0xAB16}, {0xAB20, 0xAB26}, {0xAB28, 0xAB2E}, {0xAB30, 0xAB5A},
    {0xAB5C, 0xAB69}, {0xAB70, 0xABEA}, {0xABEC, 0xABED}, {0xABF0, 0xABF9},
    {0xAC00, 0xD7A3}, {0xD7B0, 0xD7C6}, {0xD7CB, 0xD7FB}, {0xF900, 0xFA6D},
    {0xFA70, 0xFAD9}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFB1D, 0xFB28},
    {0xFB2A, 0xFB36}, {0xFB38, 0xFB3C}, {0xFB3E, 0xFB3E}, {0xFB40, 0xFB41},
    {0xFB43, 0xFB44}, {0xFB46, 0xFBB1}, {0xFBD3, 0xFD3D}, {0xFD50, 0xFD8F},
    {0xFD92, 0xFDC7}, {0xFDF0, 0xFDFB}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
    {0xFE33, 0xFE34}, {0xFE4D, 0xFE4F}, {0xFE70, 0xFE74}, {0xFE76, 0xFEFC},
    {0xFF10, 0xFF19}, {0xFF21, 0xFF3A}, {0xFF3F, 0xFF3F}, {0xFF41, 0xFF5A},
    {0xFF66, 0xFFBE}, {0xFFC2, 0xFFC7}, {0xFFCA, 0xFFCF}, {0xFFD2, 0xFFD7},
    {0xFFDA, 0xFFDC}, {0x10000, 0x1000B}, {0x1000D, 0x10026}, {0x10028, 0x1003A},
    {0x1003C, 0x1003D}, {0x1003F, 0x1004D}, {0x10050, 0x1005D}, {0x10080, 0x100FA},
    {0x10140, 0x10174}, {0x101FD, 0x101FD}, {0x10280, 0x1029C}, {0x102A0, 0x102D0},
    {0x102E0, 0x102E0}, {0x10300, 0x1031F}, {0x1032D, 0x1034A}, {0x10350, 0x1037A},
    {0x10380, 0x1039D}, {0x103A0, 0x103C3}, {0x103C8, 0x103CF}, {0x103D1, 0x103D5},
    {0x10400, 0x1049D}, {0x104A0, 0x104A9}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10500, 0x10527}, {0x10530, 0x10563}, {0x10570, 0x1057A}, {0x1057C, 0x1058A},
    {0x1058C, 0x10592}, {0x10594, 0x10595}, {0x10597, 0x105A1}, {0x105A3, 0x105B1},
    {0x105B3, 0x105B9}, {0x105BB, 0x105BC}, {0x105C0, 0x105F3}, {0x10600, 0x10736},
    {0x10740, 0x10755}, {0x10760, 0x10767}, {0x10780, 0x10785}, {0x10787, 0x107B0},
    {0x107B2, 0x107BA}, {0x10800, 0x10805}, {0x10808, 0x10808}, {0x1080A, 0x10835},
    {0x10837, 0x10838}, {0x1083C, 0x1083C}, {0x1083F, 0x10855}, {0x10860, 0x10876},
    {0x10880, 0x1089E}, {0x108E0, 0x108F2}, {0x108F4, 0x108F5}, {0x10900, 0x10915},
    {0x10920, 0x10939}, {0x10980, 0x109B7}, {0x109BE, 0x109BF}, {0x10A00, 0x10A03},
    {0x10A05, 0x10A06}, {0x10A0C, 0x10A13}, {0x10A15, 0x10A17}, {0x10A19, 0x10A35},
    {0x10A38, 0x10A3A}, {0x10A3F, 0x10A3F}, {0x10A60, 0x10A7C}, {0x10A80, 0x10A9C},
    {0x10AC0, 0x10AC7}, {0x10AC9, 0x10AE6}, {0x10B00, 0x10B35}, {0x10B40, 0x10B55},
    {0x10B60, 0x10B72}, {0x10B80, 0x10B91}, {0x10C00, 0x10C48}, {0x10C80, 0x10CB2},
    {0x10CC0, 0x10CF2}, {0x10D00, 0x10D27}, {0x10D30, 0x10D39}, {0x10D40, 0x10D65},
    {0x10D69, 0x10D6D}, {0x10D6F, 0x10D85}, {0x10E80, 0x10EA9}, {0x10EAB, 0x10EAC},
    {0x10EB0, 0x10EB1}, {0x10EC2, 0x10EC4}, {0x10EFC, 0x10F1C}, {0x10F27, 0x10F27},
    {0x10F30, 0x10F50}, {0x10F70, 0x10F85}, {0x10FB0, 0x10FC4}, {0x10FE0, 0x10FF6},
    {0x11000, 0x11046}, {0x11066, 0x11075}, {0x1107F, 0x110BA}, {0x110C2, 0x110C2},
    {0x110D0, 0x110E8}, {0x110F0, 0x110F9}, {0x11100, 0x11134}, {0x11136, 0x1113F},
    {0x11144, 0x11147}, {0x11150, 0x11173}, {0x11176, 0x11176}, {0x11180, 0x111C4},
    {0x111C9, 0x111CC}, {0x111CE, 0x111DA}, {0x111DC, 0x111DC}, {0x11200, 0x11211},
    {0x11213, 0x11237}, {0x1123E, 0x11241}, {0x11280, 0x11286}, {0x11288, 0x11288},
    {0x1128A, 0x1128D}, {0x1128F, 0x1129D}, {0x1129F, 0x112A8}, {0x112B0, 0x112EA},
    {0x112F0, 0x112F9}, {0x11300, 0x11303}, {0x11305, 0x1130C}, {0x1130F, 0x11310},
    {0x11313, 0x11328}, {0x1132A, 0x11330}, {0x11332, 0x11333}, {0x11335, 0x11339},
    {0x1133B, 0x11344}, {0x11347, 0x11348}, {0x1134B, 0x1134D}, {0x11350, 0x11350},
    {0x11357, 0x11357}, {0x1135D, 0x11363}, {0x11366, 0x1136C}, {0x11370, 0x11374},
    {0x11380, 0x11389}, {0x1138B, 0x1138B}, {0x1138E, 0x1138E}, {0x11390, 0x113B5},
    {0x113B7, 0x113C0}, {0x113C2, 0x113C2}, {0x113C5, 0x113C5}, {0x113C7, 0x113CA},
    {0x113CC, 0x113D3}, {0x113E1, 0x113E2}, {0x11400, 0x1144A}, {0x11450, 0x11459},
    {0x1145E, 0x11461}, {0x11480, 0x114C5}, {0x114C7, 0x114C7}, {0x114D0, 0x114D9},
    {0x11580, 0x115B5}, {0x115B8, 0x115C0}, {0x115D8, 0x115DD}, {0x11600, 0x11640},
    {0x11644, 0x11644}, {0x11650, 0x11659}, {0x11680, 0x116B8}, {0x116C0, 0x116C9},
    {0x116D0, 0x116E3}, {0x11700, 0x1171A}, {0x1171D, 0x1172B}, {0x11730, 0x11739},
    {0x11740, 0x11746}, {0x11800, 0x1183A}, {0x118A0, 0x118E9}, {0x118FF, 0x11906},
    {0x11909, 0x11909}, {0x1190C, 0x11913}, {0x11915, 0x11916}, {0x11918, 0x11935},
    {0x11937, 0x11938}, {0x1193B, 0x11943}, {0x11950, 0x11959}, {0x119A0, 0x119A7},
    {0x119AA, 0x119D7}, {0x119DA, 0x119E1}, {0x119E3, 0x119E4}, {0x11A00, 0x11A3E},
    {0x11A47, 0x11A47}, {0x11A50, 0x11A99}, {0x11A9D, 0x11A9D}, {0x11AB0, 0x11AF8},
    {0x11BC0, 0x11BE0}, {0x11BF0, 0x11BF9}, {0x11C00, 0x11C08}, {0x11C0A, 0x11C36},
    {0x11C38, 0x11C40}, {0x11C50, 0x11C59}, {0x11C72, 0x11C8F}, {0x11C92, 0x11CA7},
    {0x11CA9, 0x11CB6}, {0x11D00, 0x11D06}, {0x11D08, 0x11D09}, {0x11D0B, 0x11D36},
    {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D}, {0x11D3F, 0x11D47}, {0x11D50, 0x11D59},
    {0x11D60, 0x11D65}, {0x11D67, 0x11D68}, {0x11D6A, 0x11D8E}, {0x11D90, 0x11D91},
    {0x11D93, 0x11D98}, {0x11DA0, 0x11DA9}, {0x11EE0, 0x11EF6}, {0x11F00, 0x11F10},
    {0x11F12, 0x11F3A}, {0x11F3E, 0x11F42}, {0x11F50, 0x11F5A}, {0x11FB0, 0x11FB0},
    {0x12000, 0x12399}, {0x12400, 0x1246E}, {0x12480, 0x12543}, {0x12F90, 0x12FF0},
    {0x13000, 0x1342F}, {0x13440, 0x13455}, {0x13460, 0x143FA}, {0x14400, 0x14646},
    {0x16100, 0x16139}, {0x16800, 0x16A38}, {0x16A40, 0x16A5E}, {0x16A60, 0x16A69},
    {0x16A70, 0x16ABE}, {0x16AC0, 0x16AC9}, {0x16AD0, 0x16AED}, {0x16AF0, 0x16AF4},
    {0x16B00, 0x16B36}, {0x16B40, 0x16B43}, {0x16B50, 0x16B59}, {0x16B63, 0x16B77},
    {0x16B7D, 0x16B8F}, {0x16D40, 0x16D6C}, {0x16D70, 0x16D79}, {0x16E40, 0x16E7F},
    {0x16F00, 0x16F4A}, {0x16F4F, 0x16F87}, {0x16F8F, 0x16F9F}, {0x16FE0, 0x16FE1},
    {0x16FE3, 0x16FE4}, {0x16FF0, 0x16FF1}, {0x17000, 0x187F7}, {0x18800, 0x18CD5},
    {0x18CFF, 0x18D08}, {0x1AFF0, 0x1AFF3}, {0x1AFF5, 0x1AFFB}, {0x1AFFD, 0x1AFFE},
    {0x1B000, 0x1B122}, {0x1B132, 0x1B132}, {0x1B150, 0x1B152}, {0x1B155, 0x1B155},
    {0x1B164, 0x1B167}, {0x1B170, 0x1B2FB}, {0x1BC00, 0x1BC6A}, {0x1BC70, 0x1BC7C},
    {0x1BC80, 0x1BC88}, {0x1BC90, 0x1BC99}, {0x1BC9D, 0x1BC9E}, {0x1CCF0, 0x1CCF9},
    {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46}, {0x1D165, 0x1D169}, {0x1D16D, 0x1D172},
    {0x1D17B, 0x1D182}, {0x1D185, 0x1D18B}, {0x1D1AA, 0x1D1AD}, {0x1D242, 0x1D244},
    {0x1D400, 0x1D454}, {0x1D456, 0x1D49C}, {0x1D49E, 0x1D49F}, {0x1D4A2, 0x1D4A2},
    {0x1D4A5, 0x1D4A6}, {0x1D4A9, 0x1D4AC}, {0x1D4AE, 0x1D4B9}, {0x1D4BB, 0x1D4BB},
    {0x1D4BD, 0x1D4C3}, {0x1D4C5, 0x1D505}, {0x1D507, 0x1D50A}, {0x1D50D, 0x1D514},
    {0x1D516, 0x1D51C}, {0x1D51E, 0x1D539}, {0x1D53B, 0x1D53E}, {0x1D540, 0x1D544},
    {0x1D546, 0x1D546}, {0x1D54A, 0x1D550}, {0x1D552, 0x1D6A5}, {0x1D6A8, 0x1D6C0},
    {0x1D6C2, 0x1D6DA}, {0x1D6DC, 0x1D6FA}, {0x1D6FC, 0x1D714}, {0x1D716, 0x1D734},
    {0x1D736, 0x1D74E}, {0x1D750, 0x1D76E}, {0x1D770, 0x1D788}, {0x1D78A, 0x1D7A8},
    {0x1D7AA, 0x1D7C2}, {0x1D7C4, 0x1D7CB}, {0x1D7CE, 0x1D7FF}, {0x1DA00, 0x1DA36},
    {0x1DA3B, 0x1DA6C}, {0x1DA75, 0x1DA75}, {0x1DA84, 0x1DA84}, {0x1DA9B, 0x1DA9F},
    {0x1DAA1, 0x1DAAF}, {0x1DF00, 0x1DF1E}, {0x1DF25, 0x1DF2A}, {0x1E000, 0x1E006},
    {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024}, {0x1E026, 0x1E02A},
    {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F}, {0x1E100, 0x1E12C}, {0x1E130, 0x1E13D},
    {0x1E140, 0x1E149}, {0x1E14E, 0x1E14E}, {0x1E290, 0x1E2AE}, {0x1E2C0, 0x1E2F9},
    {0x1E4D0, 0x1E4F9}, {0x1E5D0, 0x1E5FA}, {0x1E7E0, 0x1E7E6}, {0x1E7E8, 0x1E7EB},
    {0x1E7ED, 0x1E7EE}, {0x1E7F0, 0x1E7FE}, {0x1E800, 0x1E8C4}, {0x1E8D0, 0x1E8D6},
    {0x1E900, 0x1E94B}, {0x1E950, 0x1E959}, {0x1EE00, 0x1EE03}, {0x1EE05, 0x1EE1F},
    {0x1EE21, 0x1EE22}, {0x1EE24, 0x1EE24}, {0x1EE27, 0x1EE27}, {0x1EE29, 0x1EE32},
    {0x1EE34, 0x1EE37}, {0x1EE39, 0x1EE39}, {0x1EE3B, 0x1EE3B}, {0x1EE42, 0x1EE42},
    {0x1EE47, 0x1EE47}, {0x1EE49, 0x1EE49}, {0x1EE4B, 0x1EE4B}, {0x1EE4D, 0x1EE4F},
    {0x1EE51, 0x1EE52}, {0x1EE54, 0x1EE54}, {0x1EE57, 0x1EE57}, {0x1EE59, 0x1EE59},
    {0x1EE5B, 0x1EE5B}, {0x1EE5D, 0x1EE5D}, {0x1EE5F, 0x1EE5F}, {0x1EE61, 0x1EE62},
    {0x1EE64, 0x1EE64}, {0x1EE67, 0x1EE6A}, {0x1EE6C, 0x1EE72}, {0x1EE74, 0x1EE77},
    {0x1EE79, 0x1EE7C}, {0x1EE7E, 0x1EE7E}, {0x1EE80, 0x1EE89}, {0x1EE8B, 0x1EE9B},
    {0x1EEA1, 0x1EEA3}, {0x1EEA5, 0x1EEA9}, {0x1EEAB, 0x1EEBB}, {0x1F130, 0x1F149},
    {0x1F150, 0x1F169}, {0x1F170, 0x1F189}, {0x1FBF0, 0x1FBF9}, {0x20000, 0x2A6DF},
    {0x2A700, 0x2B739}, {0x2B740, 0x2B81D}, {0x2B820, 0x2CEA1}, {0x2CEB0, 0x2EBE0},
    {0x2EBF0, 0x2EE5D}, {0x2F800, 0x2FA1D}, {0x30000, 0x3134A}, {0x31350, 0x323AF},
    {0xE0100, 0xE01EF},
};
/* Digits: numeric characters (146 ranges) */
static const tk_range numeric_chars[] = {
    {0x30, 0x39}, {0xB2, 0xB3}, {0xB9, 0xB9}, {0xBC, 0xBE}, {0x660, 0x669}, {0x6F0, 0x6F9},
    {0x7C0, 0x7C9}, {0x966, 0x96F}, {0x9E6, 0x9EF}, {0x9F4, 0x9F9}, {0xA66, 0xA6F},
    {0xAE6, 0xAEF}, {0xB66, 0xB6F}, {0xB72, 0xB77}, {0xBE6, 0xBF2}, {0xC66, 0xC6F},
    {0xC78, 0xC7E}, {0xCE6, 0xCEF}, {0xD58, 0xD5E}, {0xD66, 0xD78}, {0xDE6, 0xDEF},
    {0xE50, 0xE59}, {0xED0, 0xED9}, {0xF20, 0xF33}, {0x1040, 0x1049}, {0x1090, 0x1099},
    {0x1369, 0x137C}, {0x16EE, 0x16F0}, {0x17E0, 0x17E9}, {0x17F0, 0x17F9},
    {0x1810, 0x1819}, {0x1946, 0x194F}, {0x19D0, 0x19DA}, {0x1A80, 0x1A89},
    {0x1A90, 0x1A99}, {0x1B50, 0x1B59}, {0x1BB0, 0x1BB9}, {0x1C40, 0x1C49},
    {0x1C50, 0x1C59}, {0x2070, 0x2070}, {0x2074, 0x2079}, {0x2080, 0x2089},
    {0x2150, 0x2182}, {0x2185, 0x2189}, {0x2460, 0x249B}, {0x24EA, 0x24FF},
    {0x2776, 0x2793}, {0x2CFD, 0x2CFD}, {0x3007, 0x3007}, {0x3021, 0x3029},
    {0x3038, 0x303A}, {0x3192, 0x3195}, {0x3220, 0x3229}, {0x3248, 0x324F},
    {0x3251, 0x325F}, {0x3280, 0x3289}, {0x32B1, 0x32BF}, {0xA620, 0xA629},
    {0xA6E6, 0xA6EF}, {0xA830, 0xA835}, {0xA8D0, 0xA8D9}, {0xA900, 0xA909},
    {0xA9D0, 0xA9D9}, {0xA9F0, 0xA9F9}, {0xAA50, 0xAA59}, {0xABF0, 0xABF9},
    {0xFF10, 0xFF19}, {0x10107, 0x10133}, {0x10140, 0x10178}, {0x1018A, 0x1018B},
    {0x102E1, 0x102FB}, {0x10320, 0x10323}, {0x10341, 0x10341}, {0x1034A, 0x1034A},
    {0x103D1, 0x103D5}, {0x104A0, 0x104A9}, {0x10858, 0x1085F}, {0x10879, 0x1087F},
    {0x108A7, 0x108AF}, {0x108FB, 0x108FF}, {0x10916, 0x1091B}, {0x109BC, 0x109BD},
    {0x109C0, 0x109CF}, {0x109D2, 0x109FF}, {0x10A40, 0x10A48}, {0x10A7D, 0x10A7E},
    {0x10A9D, 0x10A9F}, {0x10AEB, 0x10AEF}, {0x10B58, 0x10B5F}, {0x10B78, 0x10B7F},
    {0x10BA9, 0x10BAF}, {0x10CFA, 0x10CFF}, {0x10D30, 0x10D39}, {0x10D40, 0x10D49},
    {0x10E60, 0x10E7E}, {0x10F1D, 0x10F26}, {0x10F51, 0x10F54}, {0x10FC5, 0x10FCB},
    {0x11052, 0x1106F}, {0x110F0, 0x110F9}, {0x11136, 0x1113F}, {0x111D0, 0x111D9},
    {0x111E1, 0x111F4}, {0x112F0, 0x112F9}, {0x11450, 0x11459}, {0x114D0, 0x114D9},
    {0x11650, 0x11659}, {0x116C0, 0x116C9}, {0x116D0, 0x116E3}, {0x11730, 0x1173B},
    {0x118E0, 0x118F2}, {0x11950, 0x11959}, {0x11BF0, 0x11BF9}, {0x11C50, 0x11C6C},
    {0x11D50, 0x11D59}, {0x11DA0, 0x11DA9}, {0x11DE0, 0x11DE9}, {0x11F50, 0x11F59},
    {0x11FC0, 0x11FD4}, {0x12400, 0x1246E}, {0x16130, 0x16139}, {0x16A60, 0x16A69},
    {0x16AC0, 0x16AC9}, {0x16B50, 0x16B59}, {0x16B5B, 0x16B61}, {0x16D70, 0x16D79},
    {0x16E80, 0x16E96}, {0x16FF4, 0x16FF6}, {0x1CCF0, 0x1CCF9}, {0x1D2C0, 0x1D2D3},
    {0x1D2E0, 0x1D2F3}, {0x1D360, 0x1D378}, {0x1D7CE, 0x1D7FF}, {0x1E140, 0x1E149},
    {0x1E2F0, 0x1E2F9}, {0x1E4F0, 0x1E4F9}, {0x1E5F1, 0x1E5FA}, {0x1E8C7, 0x1E8CF},
    {0x1E950, 0x1E959}, {0x1EC71, 0x1ECAB}, {0x1ECAD, 0x1ECAF}, {0x1ECB1, 0x1ECB4},
    {0x1ED01, 0x1ED2D}, {0x1ED2F, 0x1ED3D}, {0x1F100, 0x1F10C}, {0x1FBF0, 0x1FBF9},
};
/* Punctuation / BertPreTokenizer: punctuation (156 ranges) */
static const tk_range punct_chars[] = {
    {0x21, 0x2F}, {0x3A, 0x40}, {0x5B, 0x60}, {0x7B, 0x7E}, {0xA1, 0xA1}, {0xA7, 0xA7},
    {0xAB, 0xAB}, {0xB6, 0xB7}, {0xBB, 0xBB}, {0xBF, 0xBF}, {0x37E, 0x37E}, {0x387, 0x387},
    {0x55A, 0x55F}, {0x589, 0x58A}, {0x5BE, 0x5BE}, {0x5C0, 0x5C0}, {0x5C3, 0x5C3},
    {0x5C6, 0x5C6}, {0x5F3, 0x5F4}, {0x609, 0x60A}, {0x60C, 0x60D}, {0x61B, 0x61B},
    {0x61E, 0x61F}, {0x66A, 0x66D}, {0x6D4, 0x6D4}, {0x700, 0x70D}, {0x7F7, 0x7F9},
    {0x830, 0x83E}, {0x85E, 0x85E}, {0x964, 0x965}, {0x970, 0x970}, {0xAF0, 0xAF0},
    {0xDF4, 0xDF4}, {0xE4F, 0xE4F}, {0xE5A, 0xE5B}, {0xF04, 0xF12}, {0xF14, 0xF14},
    {0xF3A, 0xF3D}, {0xF85, 0xF85}, {0xFD0, 0xFD4}, {0xFD9, 0xFDA}, {0x104A, 0x104F},
    {0x10FB, 0x10FB}, {0x1360, 0x1368}, {0x1400, 0x1400}, {0x166D, 0x166E},
    {0x169B, 0x169C}, {0x16EB, 0x16ED}, {0x1735, 0x1736}, {0x17D4, 0x17D6},
    {0x17D8, 0x17DA}, {0x1800, 0x180A}, {0x1944, 0x1945}, {0x1A1E, 0x1A1F},
    {0x1AA0, 0x1AA6}, {0x1AA8, 0x1AAD}, {0x1B5A, 0x1B60}, {0x1BFC, 0x1BFF},
    {0x1C3B, 0x1C3F}, {0x1C7E, 0x1C7F}, {0x1CC0, 0x1CC7}, {0x1CD3, 0x1CD3},
    {0x2010, 0x2027}, {0x2030, 0x2043}, {0x2045, 0x2051}, {0x2053, 0x205E},
    {0x207D, 0x207E}, {0x208D, 0x208E}, {0x2308, 0x230B}, {0x2329, 0x232A},
    {0x2768, 0x2775}, {0x27C5, 0x27C6}, {0x27E6, 0x27EF}, {0x2983, 0x2998},
    {0x29D8, 0x29DB}, {0x29FC, 0x29FD}, {0x2CF9, 0x2CFC}, {0x2CFE, 0x2CFF},
    {0x2D70, 0x2D70}, {0x2E00, 0x2E2E}, {0x2E30, 0x2E42}, {0x3001, 0x3003},
    {0x3008, 0x3011}, {0x3014, 0x301F}, {0x3030, 0x3030}, {0x303D, 0x303D},
    {0x30A0, 0x30A0}, {0x30FB, 0x30FB}, {0xA4FE, 0xA4FF}, {0xA60D, 0xA60F},
    {0xA673, 0xA673}, {0xA67E, 0xA67E}, {0xA6F2, 0xA6F7}, {0xA874, 0xA877},
    {0xA8CE, 0xA8CF}, {0xA8F8, 0xA8FA}, {0xA8FC, 0xA8FC}, {0xA92E, 0xA92F},
    {0xA95F, 0xA95F}, {0xA9C1, 0xA9CD}, {0xA9DE, 0xA9DF}, {0xAA5C, 0xAA5F},
    {0xAADE, 0xAADF}, {0xAAF0, 0xAAF1}, {0xABEB, 0xABEB}, {0xFD3E, 0xFD3F},
    {0xFE10, 0xFE19}, {0xFE30, 0xFE52}, {0xFE54, 0xFE61}, {0xFE63, 0xFE63},
    {0xFE68, 0xFE68}, {0xFE6A, 0xFE6B}, {0xFF01, 0xFF03}, {0xFF05, 0xFF0A},
    {0xFF0C, 0xFF0F}, {0xFF1A, 0xFF1B}, {0xFF1F, 0xFF20}, {0xFF3B, 0xFF3D},
    {0xFF3F, 0xFF3F}, {0xFF5B, 0xFF5B}, {0xFF5D, 0xFF5D}, {0xFF5F, 0xFF65},
    {0x10100, 0x10102}, {0x1039F, 0x1039F}, {0x103D0, 0x103D0}, {0x1056F, 0x1056F},
    {0x10857, 0x10857}, {0x1091F, 0x1091F}, {0x1093F, 0x1093F}, {0x10A50, 0x10A58},
    {0x10A7F, 0x10A7F}, {0x10AF0, 0x10AF6}, {0x10B39, 0x10B3F}, {0x10B99, 0x10B9C},
    {0x11047, 0x1104D}, {0x110BB, 0x110BC}, {0x110BE, 0x110C1}, {0x11140, 0x11143},
    {0x11174, 0x11175}, {0x111C5, 0x111C9}, {0x111CD, 0x111CD}, {0x111DB, 0x111DB},
    {0x111DD, 0x111DF}, {0x11238, 0x1123D}, {0x112A9, 0x112A9}, {0x114C6, 0x114C6},
    {0x115C1, 0x115D7}, {0x11641, 0x11643}, {0x1173C, 0x1173E}, {0x12470, 0x12474},
    {0x16A6E, 0x16A6F}, {0x16AF5, 0x16AF5}, {0x16B37, 0x16B3B}, {0x16B44, 0x16B44},
    {0x1BC9F, 0x1BC9F}, {0x1DA87, 0x1DA8B},
};

/* ---- character classes ------------------------------------------------------ */

#define IN_TABLE(t, cp) tk_in_ranges((t), sizeof(t) / sizeof((t)[0]), (cp))

#define is_ws tk_is_white_space   /* Rust's char::is_whitespace */

/* ASCII or Unicode punctuation (the reference's is_bert_punc). */
static int is_punct(int32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
               (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
    return IN_TABLE(punct_chars, c);
}

/* Rust's char::is_numeric. */
static int is_numeric(int32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return IN_TABLE(numeric_chars, c);
}

/* The `\w` class of the Rust regex crate. */
static int is_word(int32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               c == '_';
    return IN_TABLE(word_chars, c);
}

#define next_char tk_next_char

static int oom(la_err *err)
{
    return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
}

/* ---- grouping match elements into pieces ----------------------------------- */

enum { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS };

static const char *const behavior_names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                             "MergedWithNext", "Contiguous"};

/* Streaming form of the reference's split behaviours. Elements (a span
 * and whether it matched) arrive in order; pieces leave through emit()
 * as soon as no later element can change them. Offsets index s. */
typedef struct {
    int behavior;
    const char *s;
    int at_start;            /* bytes at s's start that stem from the original's first character */
    tk_piece_fn fn;
    void *ctx;
    size_t pa, pb;           /* pending piece */
    int pending;
    int prev_match;          /* kind of the previous element */
} grouper;

static void grouper_init(grouper *g, int behavior, const char *s, int at_start, tk_piece_fn fn,
                         void *ctx)
{
    memset(g, 0, sizeof *g);
    g->behavior = behavior;
    g->s = s;
    g->at_start = at_start;
    g->fn = fn;
    g->ctx = ctx;
}

/* Pushes s[a..b) unless empty (the reference drops empty splits). */
static int emit(grouper *g, size_t a, size_t b)
{
    if (a == b)
        return 0;
    return g->fn(g->ctx, g->s + a, b - a, tk_lead_after(g->at_start, a)) ? 1 : 0;
}

/* Emits the pending piece, if any. */
static int flush(grouper *g)
{
    if (!g->pending)
        return 0;
    g->pending = 0;
    return emit(g, g->pa, g->pb);
}

/* Takes one element; returns 1 when the sink asked to stop. */
static int feed(grouper *g, size_t a, size_t b, int is_match)
{
    int rc = 0;
    switch (g->behavior) {
    case B_REMOVED:
        rc = is_match ? 0 : emit(g, a, b);
        break;
    case B_ISOLATED:
        rc = emit(g, a, b);
        break;
    case B_MERGED_PREV:
        /* a match joins the piece before it, unless that was a match */
        if (is_match && !g->prev_match && g->pending) {
            g->pb = b;
            rc = flush(g);
        } else {
            rc = flush(g);
            g->pa = a, g->pb = b, g->pending = 1;
        }
        break;
    case B_MERGED_NEXT:
        /* a match is held and joins the non-match after it */
        if (g->pending) {
            if (!is_match) {
                g->pending = 0;
                rc = emit(g, g->pa, b);
                break;
            }
            rc = flush(g);
        }
        if (is_match)
            g->pa = a, g->pb = b, g->pending = 1;
        else if (!rc)
            rc = emit(g, a, b);
        break;
    default: /* B_CONTIGUOUS: runs of the same kind merge */
        if (g->pending && is_match == g->prev_match) {
            g->pb = b;
        } else {
            rc = flush(g);
            g->pa = a, g->pb = b, g->pending = 1;
        }
        break;
    }
    g->prev_match = is_match;
    return rc;
}

/* Feeds the elements of a character-predicate pattern over s[0..len):
 * each character satisfying pred is a match of its own. */
static int feed_chars(grouper *g, size_t len, int (*pred)(int32_t), int invert)
{
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(g->s, len, i, &cp);
        if (cp >= 0 && pred(cp)) {
            if (last < i && feed(g, last, i, invert))
                return 1;
            if (feed(g, i, i + n, !invert))
                return 1;
            last = i + n;
        }
        i += n;
    }
    if (last < len && feed(g, last, len, invert))
        return 1;
    return flush(g);
}

/* Feeds the elements of a regex pattern over s[0..len) (find_matches);
 * returns 0, 1 (stopped) or a negative status. */
static int feed_regex(grouper *g, size_t len, const tk_regex *re, int invert, la_tok_work *w,
                      la_err *err)
{
    if (len == 0)
        return 0;
    tk_regex_iter it = {0, 0};
    size_t prev = 0, ms, me;
    int rc;
    while ((rc = tk_regex_iter_next(re, g->s, len, &it, &ms, &me, w, err)) == 1) {
        if (prev != ms && feed(g, prev, ms, invert))
            return 1;
        if (feed(g, ms, me, !invert))
            return 1;
        prev = me;
    }
    if (rc < 0)
        return rc;
    if (prev != len && feed(g, prev, len, invert))
        return 1;
    return flush(g);
}

/* ---- components ------------------------------------------------------------- */

/* Every pre-tokenizer: the interface plus the scratch slots it uses
 * (w->pre[depth .. depth + slots)). */
typedef struct {
    tk_pretok base;
    int slots;
} pre_base;

static int slots_of(const tk_pretok *p)
{
    return ((const pre_base *)p)->slots;
}

/* Checks that the slots a component needs exist. */
static int check_depth(int depth, int slots, la_err *err)
{
    if (depth < 0 || depth + slots > TK_MAX_DEPTH)
        return la_err_set(err, LA_EARG, "tokenizer", "pre-tokenizer: nesting too deep");
    return LA_OK;
}

static void plain_free(tk_pretok *p)
{
    free(p);
}

typedef int (*split_fn)(const tk_pretok *, const char *, size_t, int, tk_piece_fn, void *,
                        la_tok_work *, int, la_err *);

/* Allocates a component of `size` bytes. */
static void *new_component(size_t size, split_fn split, void (*freefn)(tk_pretok *), int slots,
                           la_err *err)
{
    pre_base *p = calloc(1, size);
    if (!p) {
        oom(err);
        return NULL;
    }
    p->base.split = split;
    p->base.free = freefn;
    p->slots = slots;
    return p;
}

/* -- Split ---------------------------------------------------------------- */

typedef struct {
    pre_base b;
    tk_regex *re;
    int behavior, invert;
} split_pre;

static int split_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                       tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const split_pre *sp = (const split_pre *)p;
    grouper g;
    grouper_init(&g, sp->behavior, s, at_start, fn, ctx);
    return feed_regex(&g, len, sp->re, sp->invert, w, err);
}

static void split_free(tk_pretok *p)
{
    split_pre *sp = (split_pre *)p;
    tk_regex_free(sp->re);
    free(sp);
}

/* -- character-predicate splitters ------------------------------------------ */

typedef struct {
    pre_base b;
    int behavior;
    int32_t delim;           /* CharDelimiterSplit */
} char_pre;

static int punct_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                       tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, ((const char_pre *)p)->behavior, s, at_start, fn, ctx);
    return feed_chars(&g, len, is_punct, 0);
}

static int ws_split_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                          tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_REMOVED, s, at_start, fn, ctx);
    return feed_chars(&g, len, is_ws, 0);
}

static int digits_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                        tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, ((const char_pre *)p)->behavior, s, at_start, fn, ctx);
    return feed_chars(&g, len, is_numeric, 0);
}

/* CharDelimiterSplit: the delimiter character, removed. */
static int delim_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                       tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)w, (void)depth, (void)err;
    int32_t d = ((const char_pre *)p)->delim;
    grouper g;
    grouper_init(&g, B_REMOVED, s, at_start, fn, ctx);
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        if (cp == d) {
            if (emit(&g, last, i))
                return 1;
            last = i + n;
        }
        i += n;
    }
    return emit(&g, last, len);
}

/* Whitespace: `\w+|[^\w\s]+` keeps runs of word characters and runs of
 * other non-space characters; white space separates and is dropped. */
static int whitespace_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                            tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, fn, ctx);
    size_t start = 0;
    int cls = 0; /* class of the current run: 0 space, 1 word, 2 other */
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        int c = cp >= 0 && is_ws(cp) ? 0 : (cp >= 0 && is_word(cp) ? 1 : 2);
        if (c != cls) {
            if (cls && emit(&g, start, i))
                return 1;
            start = i;
            cls = c;
        }
        i += n;
    }
    return cls ? emit(&g, start, len) : 0;
}

/* The script of cp as UnicodeScripts sees it: 0 (none, "Any") for the
 * space and for code points in no range, Han for U+30FC. */
static int script_of(int32_t cp)
{
    if (cp == ' ')
        return 0;
    if (cp == 0x30FC)
        cp = 0x4E00;              /* a Han character: the same number */
    size_t lo = 0, hi = sizeof tk_script_ranges / sizeof tk_script_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tk_script_ranges[mid].hi < cp)
            lo = mid + 1;
        else if (tk_script_ranges[mid].lo > cp)
            hi = mid;
        else
            return tk_script_ranges[mid].script;
    }
    return 0;
}

/* UnicodeScripts: a cut before each character (of some script) whose
 * script differs from the last character's that had one; characters of
 * no script belong to the piece they are in. As in HuggingFace, the
 * pieces run from cut to cut, so what precedes the first cut (the
 * characters of no script that start the text) is dropped. */
static int scripts_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                         tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, fn, ctx);
    int last = -1;                /* no script met yet */
    size_t cut = SIZE_MAX;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        int sc = script_of(cp);
        if (sc && sc != last) {
            if (cut != SIZE_MAX && emit(&g, cut, i))
                return 1;
            cut = i;
        }
        if (sc)
            last = sc;
        i += n;
    }
    return cut != SIZE_MAX ? emit(&g, cut, len) : 0;
}

static tk_pretok *new_scripts(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), scripts_split, plain_free, 0, err);
}

/* BertPreTokenizer: split on white space (removed), then isolate each
 * punctuation character. */
static int bert_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                      tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, fn, ctx);
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        if (cp >= 0 && (is_ws(cp) || is_punct(cp))) {
            if (emit(&g, start, i))
                return 1;
            if (!is_ws(cp) && emit(&g, i, i + n))
                return 1;
            start = i + n;
        }
        i += n;
    }
    return emit(&g, start, len);
}

/* -- Metaspace --------------------------------------------------------------- */

enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct {
    pre_base b;
    int32_t rep;
    char rep_utf8[4];
    size_t rep_len;
    int prepend, split;
} metaspace_pre;

/* Spaces become the replacement; it is prepended (always, or only at
 * the start of the original text) unless the piece already starts with
 * it; with split, a piece starts at every replacement character. Pieces
 * are built in w->pre[depth] one at a time. */
static int metaspace_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                           tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    const metaspace_pre *m = (const metaspace_pre *)p;
    if (check_depth(depth, 1, err))
        return LA_EARG;
    if (len == 0)
        return 0;
    la_buf *buf = &w->pre[depth];
    la_buf_clear(buf);
    int32_t first;
    next_char(s, len, 0, &first);
    int starts = first == ' ' || first == m->rep;
    int prepends = !starts && (m->prepend == PREPEND_ALWAYS || (m->prepend == PREPEND_FIRST && at_start > 0));
    if (prepends && la_buf_append(buf, m->rep_utf8, m->rep_len) != LA_OK)
        return oom(err);
    /* (what it prepends stems from the piece's first character) */
    int piece_at_start = at_start > 0 && prepends ? at_start + (int)m->rep_len : at_start;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        int is_rep = cp == ' ' || cp == m->rep;
        if (is_rep && m->split && buf->len) {
            if (fn(ctx, buf->data, buf->len, piece_at_start))
                return 1;
            la_buf_clear(buf);
            piece_at_start = tk_lead_after(at_start, i);
        }
        int rc = is_rep ? la_buf_append(buf, m->rep_utf8, m->rep_len)
                        : la_buf_append(buf, s + i, n);
        if (rc != LA_OK)
            return oom(err);
        i += n;
    }
    if (buf->len && fn(ctx, buf->data, buf->len, piece_at_start))
        return 1;
    return 0;
}

/* -- ByteLevel ----------------------------------------------------------------- */

#define GPT2_PATTERN                                                                      \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    pre_base b;
    tk_regex *re;            /* NULL without use_regex */
    int add_prefix_space;
    char enc[256][2];        /* GPT-2's byte -> character, as UTF-8 */
    unsigned char enc_len[256];
} byte_level_pre;

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the others take U+0100 onwards in byte order. */
static void byte_level_table(char enc[256][2], unsigned char enc_len[256])
{
    int32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        int32_t cp = keep ? b : next++;
        char tmp[4];
        enc_len[b] = (unsigned char)tk_utf8_encode(cp, tmp);
        memcpy(enc[b], tmp, enc_len[b]);
    }
}

/* Sink context that maps each piece's bytes before passing it on. */
typedef struct {
    const byte_level_pre *bl;
    la_buf *buf;
    tk_piece_fn fn;
    void *ctx;
    size_t lim;              /* the growth bound of the call (tk.h) */
    int failed;              /* LA_ENOMEM or MAP_OVER */
} bl_sink;

/* map_bytes's answer when the piece would pass the growth bound: each
 * ByteLevel in a Sequence doubles the bytes above 0x7F, so a chain of
 * them multiplies the text. */
#define MAP_OVER 1

/* Appends the GPT-2 characters of bytes p[0..len) to b, unless b would
 * pass lim bytes (MAP_OVER). */
static int map_bytes(const byte_level_pre *bl, const char *p, size_t len, la_buf *b, size_t lim)
{
    if (len > SIZE_MAX / 2 - 1 || b->len > lim || 2 * len > lim - b->len)
        return MAP_OVER;
    if (la_buf_reserve(b, 2 * len) != LA_OK)
        return LA_ENOMEM;
    char *o = b->data + b->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        memcpy(o, bl->enc[ch], 2);
        o += bl->enc_len[ch];
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
    return LA_OK;
}

/* Maps a piece into the sink's buffer and passes it on. */
static int bl_emit(void *c, const char *piece, size_t len, int at_start)
{
    bl_sink *k = c;
    la_buf_clear(k->buf);
    int rc = map_bytes(k->bl, piece, len, k->buf, k->lim);
    if (rc != LA_OK) {
        k->failed = rc;
        return 1;
    }
    return k->fn(k->ctx, k->buf->data, k->buf->len, at_start);
}

/* The first element(s) of " " + s under the GPT-2 regex, computed on a
 * growing prefixed copy of s's head so that a long text is not copied:
 * the copy is long enough once the match ends well before its end (the
 * pattern looks at most one character past a match). Feeds the elements
 * and returns, in *resume, where matching continues in s. */
static int bl_prefixed_head(const byte_level_pre *bl, grouper *g, const char *s, size_t len,
                            la_buf *head, size_t *resume, la_tok_work *w, la_err *err)
{
    size_t k = len < 256 ? len : 256;
    size_t ms, me;
    int rc;
    for (;;) {
        la_buf_clear(head);
        if (la_buf_putc(head, ' ') != LA_OK || la_buf_append(head, s, k) != LA_OK)
            return oom(err);
        rc = tk_regex_next(bl->re, head->data, head->len, 0, &ms, &me, w, err);
        if (rc < 0)
            return rc;
        if (k == len || (rc == 1 && me + 8 <= head->len))
            break;
        k = len - k < 3 * k ? len : 4 * k;
    }
    g->s = head->data;
    if (rc == 0) {           /* no match at all: one non-match element */
        *resume = len;
        return feed(g, 0, head->len, 0) ? 1 : flush(g);
    }
    if (ms > 0 && feed(g, 0, ms, 0))
        return 1;
    if (feed(g, ms, me, 1))
        return 1;
    /* the rest of the stream refers to s, one byte to the left */
    if (flush(g))
        return 1;
    *resume = me - 1;
    return 0;
}

/* The error of a map_bytes that failed with rc. */
static int bl_failed(int rc, la_err *err)
{
    return rc == MAP_OVER ? tk_budget_error(err, "pre-tokenizer ByteLevel") : oom(err);
}

static int byte_level_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                            tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    const byte_level_pre *bl = (const byte_level_pre *)p;
    if (check_depth(depth, bl->b.slots, err))
        return LA_EARG;
    if (len == 0)
        return 0;
    bl_sink k = {bl, &w->pre[depth], fn, ctx, tk_budget_grow(w, len + 1), 0};
    int prefix = bl->add_prefix_space && s[0] != ' ';
    int rc;
    if (!bl->re) {
        /* one piece: the (prefixed) text, mapped */
        la_buf_clear(k.buf);
        if ((rc = prefix ? map_bytes(bl, " ", 1, k.buf, k.lim) : LA_OK) == LA_OK)
            rc = map_bytes(bl, s, len, k.buf, k.lim);
        if (rc != LA_OK)
            return bl_failed(rc, err);
        return fn(ctx, k.buf->data, k.buf->len, at_start) ? 1 : 0;
    }
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, bl_emit, &k);
    size_t from = 0;
    if (prefix) {
        rc = bl_prefixed_head(bl, &g, s, len, &w->pre[depth + 1], &from, w, err);
        if (rc || from >= len)
            return k.failed ? bl_failed(k.failed, err) : rc;
        g.s = s;
        g.at_start = 0;
    }
    /* continue the match stream on s itself from `from` */
    tk_regex_iter it = {from, from > 0};
    size_t prev = from, ms, me;
    while ((rc = tk_regex_iter_next(bl->re, s, len, &it, &ms, &me, w, err)) == 1) {
        if ((prev != ms && feed(&g, prev, ms, 0)) || feed(&g, ms, me, 1))
            return k.failed ? bl_failed(k.failed, err) : 1;
        prev = me;
    }
    if (rc < 0)
        return rc;
    if (prev != len && feed(&g, prev, len, 0))
        return k.failed ? bl_failed(k.failed, err) : 1;
    return 0;
}

static void byte_level_free(tk_pretok *p)
{
    byte_level_pre *bl = (byte_level_pre *)p;
    tk_regex_free(bl->re);
    free(bl);
}

/* -- Sequence ------------------------------------------------------------------- */

typedef struct {
    pre_base b;
    tk_pretok **items;
    int *offset;             /* scratch slot of each item, from the Sequence's own */
    size_t n;
} seq_pre;

/* Passes each piece of stage `next - 1` through stage `next`. */
typedef struct {
    const seq_pre *sq;
    size_t next;
    tk_piece_fn fn;
    void *ctx;
    la_tok_work *w;
    int depth;
    la_err *err;
    int *status;             /* first error, shared by the whole chain */
} seq_ctx;

static int seq_sink(void *c, const char *piece, size_t len, int at_start)
{
    const seq_ctx *sc = c;
    const tk_pretok *p = sc->sq->items[sc->next];
    int d = sc->depth + sc->sq->offset[sc->next];
    int rc;
    if (sc->next + 1 == sc->sq->n) {
        rc = p->split(p, piece, len, at_start, sc->fn, sc->ctx, sc->w, d, sc->err);
    } else {
        seq_ctx inner = *sc;
        inner.next++;
        rc = p->split(p, piece, len, at_start, seq_sink, &inner, sc->w, d, sc->err);
    }
    if (rc < 0) {
        if (*sc->status == 0)
            *sc->status = rc;
        return 1;
    }
    return rc;
}

/* Each piece of the first stage goes through all later stages before
 * the next piece is cut (the reference applies every stage to every
 * split independently, so the result is the same). */
static int seq_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                     tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    const seq_pre *sq = (const seq_pre *)p;
    if (sq->n == 0)
        return len ? (fn(ctx, s, len, at_start) ? 1 : 0) : 0;
    if (check_depth(depth, sq->b.slots, err))
        return LA_EARG;
    if (sq->n == 1)
        return sq->items[0]->split(sq->items[0], s, len, at_start, fn, ctx, w, depth, err);
    /* run on its own (no API call set the growth bound): the bound is
     * that of the sequence's input, for every item */
    int own_bound = !w->budget.grow_max;
    if (own_bound)
        w->budget.grow_max = tk_grow_max(len);
    int status = 0;
    seq_ctx c = {sq, 1, fn, ctx, w, depth, err, &status};
    int rc = sq->items[0]->split(sq->items[0], s, len, at_start, seq_sink, &c, w, depth, err);
    if (own_bound)
        w->budget.grow_max = 0;
    return status ? status : rc;
}

int tk_pretok_split_bytes(const tk_pretok *p, tk_split_bytes *out)
{
    if (!p || p->split != seq_split)
        return 0;
    const seq_pre *sq = (const seq_pre *)p;
    if (sq->n != 2 || sq->items[0]->split != split_split || sq->items[1]->split != byte_level_split)
        return 0;
    const split_pre *sp = (const split_pre *)sq->items[0];
    const byte_level_pre *bl = (const byte_level_pre *)sq->items[1];
    if (bl->re || bl->add_prefix_space)
        return 0;
    if (sp->behavior == B_ISOLATED)
        out->gaps = out->matches = 1;
    else if (sp->behavior == B_REMOVED)
        out->gaps = !sp->invert, out->matches = sp->invert;   /* what is not a "match" stays */
    else
        return 0;
    out->re = sp->re;
    out->map = bl;
    return 1;
}

int tk_split_bytes_map(const tk_split_bytes *sb, const char *s, size_t n, la_buf *out)
{
    /* one ByteLevel: twice the bytes at most, no bound needed */
    int rc = map_bytes((const byte_level_pre *)sb->map, s, n, out, SIZE_MAX);
    return rc == MAP_OVER ? LA_ENOMEM : rc;
}

static void seq_free(tk_pretok *p)
{
    seq_pre *sq = (seq_pre *)p;
    for (size_t i = 0; i < sq->n; i++)
        sq->items[i]->free(sq->items[i]);
    free(sq->items);
    free(sq->offset);
    free(sq);
}

/* ---- construction from JSON ------------------------------------------------------ */

/* Field `name` of a `type` pre-tokenizer; NULL (with err) when missing
 * and required. */
static const cJSON *field(const cJSON *j, const char *type, const char *name, int required,
                          la_err *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!f && required)
        la_err_set(err, LA_EDATA, "tokenizer", "pre-tokenizer: %s: missing field \"%s\"", type,
                   name);
    return f;
}

static int type_error(const char *type, const char *name, const char *what, la_err *err)
{
    return la_err_set(err, LA_EDATA, "tokenizer", "pre-tokenizer: %s: field \"%s\" must be %s",
                      type, name, what);
}

/* Reads a boolean; a missing optional field leaves *v alone. */
static int get_bool(const cJSON *j, const char *type, const char *name, int required, int *v,
                    la_err *err)
{
    const cJSON *f = field(j, type, name, required, err);
    if (!f)
        return required ? LA_EDATA : LA_OK;
    if (!cJSON_IsBool(f))
        return type_error(type, name, "a boolean", err);
    *v = cJSON_IsTrue(f);
    return LA_OK;
}

/* Reads a behaviour name; a missing optional field leaves *v alone. */
static int get_behavior(const cJSON *j, const char *type, int required, int *v, la_err *err)
{
    const cJSON *f = field(j, type, "behavior", required, err);
    if (!f)
        return required ? LA_EDATA : LA_OK;
    if (cJSON_IsString(f))
        for (int i = 0; i < 5; i++)
            if (strcmp(f->valuestring, behavior_names[i]) == 0) {
                *v = i;
                return LA_OK;
            }
    return type_error(type, "behavior",
                      "one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous",
                      err);
}

/* Reads a field that must hold exactly one character. */
static int get_char(const cJSON *j, const char *type, const char *name, int32_t *cp,
                    la_err *err)
{
    const cJSON *f = field(j, type, name, 1, err);
    if (!f)
        return LA_EDATA;
    size_t len = cJSON_IsString(f) ? strlen(f->valuestring) : 0;
    if (!len || tk_utf8_decode((const unsigned char *)f->valuestring, len, cp) != len)
        return type_error(type, name, "a single character", err);
    return LA_OK;
}

/* Appends s with every character Rust's regex::escape escapes preceded
 * by a backslash (the reference compiles String patterns that way). */
static int regex_escape(const char *s, size_t len, la_buf *out)
{
    static const char meta[] = "\\.+*?()|[]{}^$#&-~";
    for (size_t i = 0; i < len; i++) {
        if (strchr(meta, s[i]) && la_buf_putc(out, '\\') != LA_OK)
            return LA_ENOMEM;
        if (la_buf_putc(out, s[i]) != LA_OK)
            return LA_ENOMEM;
    }
    return LA_OK;
}

/* Compiles a {"String": s} or {"Regex": r} pattern. */
static tk_regex *compile_pattern(const cJSON *j, const char *type, la_err *err)
{
    const cJSON *pat = field(j, type, "pattern", 1, err);
    if (!pat)
        return NULL;
    const cJSON *str = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL;
    const cJSON *rx = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
    if ((!str == !rx) || cJSON_GetArraySize(pat) != 1 || !cJSON_IsString(str ? str : rx)) {
        type_error(type, "pattern", "{\"String\": s} or {\"Regex\": r}", err);
        return NULL;
    }
    if (rx)
        return tk_regex_new(rx->valuestring, strlen(rx->valuestring), err);
    la_buf esc = {0};
    if (regex_escape(str->valuestring, strlen(str->valuestring), &esc) != LA_OK) {
        la_buf_free(&esc);
        oom(err);
        return NULL;
    }
    tk_regex *re = tk_regex_new(esc.data ? esc.data : "", esc.len, err);
    la_buf_free(&esc);
    return re;
}

typedef tk_pretok *(*pre_ctor)(const cJSON *j, const char *type, la_err *err);

static tk_pretok *new_split(const cJSON *j, const char *type, la_err *err)
{
    int behavior = 0, invert = 0;
    if (get_behavior(j, type, 1, &behavior, err) || get_bool(j, type, "invert", 1, &invert, err))
        return NULL;
    tk_regex *re = compile_pattern(j, type, err);
    if (!re)
        return NULL;
    split_pre *sp = new_component(sizeof *sp, split_split, split_free, 0, err);
    if (!sp) {
        tk_regex_free(re);
        return NULL;
    }
    sp->re = re;
    sp->behavior = behavior;
    sp->invert = invert;
    return (tk_pretok *)sp;
}

static tk_pretok *new_punctuation(const cJSON *j, const char *type, la_err *err)
{
    int behavior = B_ISOLATED;
    if (get_behavior(j, type, 0, &behavior, err))
        return NULL;
    char_pre *c = new_component(sizeof *c, punct_split, plain_free, 0, err);
    if (c)
        c->behavior = behavior;
    return (tk_pretok *)c;
}

static tk_pretok *new_digits(const cJSON *j, const char *type, la_err *err)
{
    int individual = 0;
    if (get_bool(j, type, "individual_digits", 1, &individual, err))
        return NULL;
    char_pre *c = new_component(sizeof *c, digits_split, plain_free, 0, err);
    if (c)
        c->behavior = individual ? B_ISOLATED : B_CONTIGUOUS;
    return (tk_pretok *)c;
}

static tk_pretok *new_delimiter(const cJSON *j, const char *type, la_err *err)
{
    int32_t d;
    if (get_char(j, type, "delimiter", &d, err))
        return NULL;
    char_pre *c = new_component(sizeof *c, delim_split, plain_free, 0, err);
    if (c)
        c->delim = d;
    return (tk_pretok *)c;
}

static tk_pretok *new_whitespace_split(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), ws_split_split, plain_free, 0, err);
}

static tk_pretok *new_whitespace(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), whitespace_split, plain_free, 0, err);
}

static tk_pretok *new_bert(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), bert_split, plain_free, 0, err);
}

/* Metaspace: replacement (one character), prepend_scheme (always,
 * first, never; default always), split (default true), and the legacy
 * add_prefix_space: false requires prepend_scheme "never". */
static tk_pretok *new_metaspace(const cJSON *j, const char *type, la_err *err)
{
    int32_t rep;
    int split = 1, aps = -1, prepend = PREPEND_ALWAYS;
    if (get_char(j, type, "replacement", &rep, err) || get_bool(j, type, "split", 0, &split, err) ||
        get_bool(j, type, "add_prefix_space", 0, &aps, err))
        return NULL;
    const cJSON *ps = field(j, type, "prepend_scheme", 0, err);
    if (ps && !cJSON_IsNull(ps)) {
        static const char *const names[] = {"always", "first", "never"};
        prepend = -1;
        for (int i = 0; i < 3 && cJSON_IsString(ps); i++)
            if (strcmp(ps->valuestring, names[i]) == 0)
                prepend = i;
        if (prepend < 0) {
            type_error(type, "prepend_scheme", "one of always, first, never", err);
            return NULL;
        }
    }
    if (aps == 0) {
        if (!ps || cJSON_IsNull(ps) || prepend != PREPEND_NEVER) {
            la_err_set(err, LA_EDATA, "tokenizer",
                       "pre-tokenizer: %s: add_prefix_space does not match prepend_scheme", type);
            return NULL;
        }
    }
    metaspace_pre *m = new_component(sizeof *m, metaspace_split, plain_free, 1, err);
    if (!m)
        return NULL;
    m->rep = rep;
    m->rep_len = tk_utf8_encode(rep, m->rep_utf8);
    m->prepend = prepend;
    m->split = split;
    return (tk_pretok *)m;
}

static tk_pretok *new_byte_level(const cJSON *j, const char *type, la_err *err)
{
    int aps = 0, trim = 0, use_regex = 1;
    if (get_bool(j, type, "add_prefix_space", 1, &aps, err) ||
        get_bool(j, type, "trim_offsets", 1, &trim, err) ||
        get_bool(j, type, "use_regex", 0, &use_regex, err))
        return NULL;
    tk_regex *re = NULL;
    if (use_regex && !(re = tk_regex_new(GPT2_PATTERN, strlen(GPT2_PATTERN), err)))
        return NULL;
    byte_level_pre *bl = new_component(sizeof *bl, byte_level_split, byte_level_free, 2, err);
    if (!bl) {
        tk_regex_free(re);
        return NULL;
    }
    bl->re = re;
    bl->add_prefix_space = aps;
    byte_level_table(bl->enc, bl->enc_len);
    return (tk_pretok *)bl;
}

static tk_pretok *new_sequence(const cJSON *j, const char *type, la_err *err)
{
    const cJSON *arr = field(j, type, "pretokenizers", 1, err);
    if (!arr)
        return NULL;
    if (!cJSON_IsArray(arr)) {
        type_error(type, "pretokenizers", "an array", err);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    seq_pre *sq = new_component(sizeof *sq, seq_split, seq_free, 0, err);
    if (!sq)
        return NULL;
    sq->items = calloc(n ? n : 1, sizeof *sq->items);
    sq->offset = calloc(n ? n : 1, sizeof *sq->offset);
    if (!sq->items || !sq->offset) {
        oom(err);
        seq_free((tk_pretok *)sq);
        return NULL;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        tk_pretok *x = tk_pretok_from_json(item, err);
        if (!x) {
            seq_free((tk_pretok *)sq);
            return NULL;
        }
        sq->offset[sq->n] = sq->b.slots;
        sq->items[sq->n++] = x;
        sq->b.slots += slots_of(x);
        if (sq->b.slots > TK_MAX_DEPTH) {
            la_err_set(err, LA_EUNSUP, "tokenizer", "pre-tokenizer: %s: nested too deeply", type);
            seq_free((tk_pretok *)sq);
            return NULL;
        }
    }
    return (tk_pretok *)sq;
}

/* The "type" tags this file knows. */
static const struct {
    const char *type;
    pre_ctor make;
} pre_types[] = {
    {"Sequence", new_sequence},
    {"Split", new_split},
    {"ByteLevel", new_byte_level},
    {"Metaspace", new_metaspace},
    {"Whitespace", new_whitespace},
    {"WhitespaceSplit", new_whitespace_split},
    {"Digits", new_digits},
    {"Punctuation", new_punctuation},
    {"BertPreTokenizer", new_bert},
    {"CharDelimiterSplit", new_delimiter},
    {"UnicodeScripts", new_scripts},
};

tk_pretok *tk_pretok_from_json(const cJSON *j, la_err *err)
{
    const char *type = tk_component_type(j, "pre-tokenizer", err);
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof pre_types / sizeof pre_types[0]; i++)
        if (strcmp(pre_types[i].type, type) == 0)
            return pre_types[i].make(j, pre_types[i].type, err);
    la_err_set(err, LA_EUNSUP, "tokenizer", "pre-tokenizer: unsupported type \"%.64s\"", type);
    return NULL;
}
