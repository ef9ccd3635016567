import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPrintableText, isStorableText, isWellFormed, PRINTABLE_TEXT_PATTERN } from '../../../src/core/text.js';

const LONE_HIGH = 'a\ud800b';
const LONE_LOW = 'a\udc00';
const PAIR = 'wallet \u{1F600}'; // a surrogate pair: well-formed

describe('text from outside', () => {
  test('isPrintableText: no C0 control, no DEL, no lone surrogate; other Unicode is fine', () => {
    for (const ok of ['', 'alice', 'Zoë', '名前', PAIR, 'tab-less name', '\u00a0nbsp', '\u0080']) assert.equal(isPrintableText(ok), true, JSON.stringify(ok));
    for (const bad of ['a\u0000', 'a\tb', 'line\n', '\u001f', 'del\u007f', LONE_HIGH, LONE_LOW]) assert.equal(isPrintableText(bad), false, JSON.stringify(bad));
  });

  test('isWellFormed: every surrogate is half of a pair', () => {
    assert.equal(isWellFormed(PAIR), true);
    assert.equal(isWellFormed('a\nb\u0000'), true, 'control characters are well-formed');
    assert.equal(isWellFormed(LONE_HIGH), false);
    assert.equal(isWellFormed(LONE_LOW), false);
    assert.equal(isWellFormed('\udc00\ud800'), false, 'a pair in the wrong order is two lone halves');
  });

  test('isStorableText: well-formed and no NUL (PostgreSQL refuses it); other controls are allowed', () => {
    assert.equal(isStorableText('line 1\nline 2\ttab'), true);
    assert.equal(isStorableText(PAIR), true);
    assert.equal(isStorableText('a\u0000b'), false);
    assert.equal(isStorableText(LONE_HIGH), false);
  });

  test('the schema pattern, compiled with the u flag as TypeBox does, agrees with isPrintableText', () => {
    const re = new RegExp(PRINTABLE_TEXT_PATTERN, 'u');
    for (const s of ['alice', PAIR, 'a\u0000', LONE_HIGH, 'x\u007f']) assert.equal(re.test(s), isPrintableText(s), JSON.stringify(s));
  });
});
