/**
 * What text from outside may contain before it reaches storage, logs or an id lookup.
 * PostgreSQL refuses U+0000 in `text` and `jsonb`, so a NUL that gets that far becomes an
 * internal error instead of the caller's; a lone surrogate has no UTF-8 form, so it is
 * stored (or hashed, or signed) as something other than what was sent. Control characters
 * have no business in an id or a name either. Edges refuse such input with their own error.
 */

/**
 * For JSON schemas (`pattern`): no C0 control character, no DEL, no lone surrogate. Ajv
 * and TypeBox compile patterns with the `u` flag, under which [\ud800-\udfff] matches only
 * a surrogate that is not half of a pair, so characters outside the BMP stay allowed.
 */
export const PRINTABLE_TEXT_PATTERN = '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]*$';

const PRINTABLE_TEXT = new RegExp(PRINTABLE_TEXT_PATTERN, 'u');
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** No control characters and well-formed: fit for an id, a name or a display name. */
export function isPrintableText(s: string): boolean {
  return PRINTABLE_TEXT.test(s);
}

/** Well-formed UTF-16: every surrogate is half of a pair (String.prototype.isWellFormed, before ES2024 typings). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** Free text storage can hold: well-formed, and no NUL (other control characters are allowed). */
export function isStorableText(s: string): boolean {
  return isWellFormed(s) && !s.includes('\u0000');
}
