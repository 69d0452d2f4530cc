// Rendering of untrusted path text inside error messages. Messages go back to
// clients and into logs, so they never carry raw control, format, bidi,
// combining or surrogate characters: those are written as \uXXXX escapes.

const MAX_QUOTED_CODE_POINTS = 80;

// Characters shown as an escape: other (C*: control, format, surrogate,
// private use, unassigned), separators (Z*) except the plain space, combining
// marks (M*, so that NFC problems are visible), and the replacement character.
const NEEDS_ESCAPE = /^(?:[\p{C}\p{Z}\p{M}\uFFFD])$/u;

function hex4(unit: number): string {
  return '\\u' + unit.toString(16).toUpperCase().padStart(4, '0');
}

/** U+XXXX notation for one code point or code unit. */
export function codePointLabel(cp: number): string {
  return 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * Escape `s` for display between double quotes; long values are cut after
 * MAX_QUOTED_CODE_POINTS code points with a note of how much was left out.
 */
export function escapeForMessage(s: string, maxCodePoints = MAX_QUOTED_CODE_POINTS): string {
  let out = '';
  let shown = 0;
  let i = 0;
  while (i < s.length) {
    if (shown === maxCodePoints) {
      let rest = 0;
      for (let j = i; j < s.length; j++) {
        const u = s.charCodeAt(j);
        if (u >= 0xd800 && u <= 0xdbff && j + 1 < s.length) {
          const next = s.charCodeAt(j + 1);
          if (next >= 0xdc00 && next <= 0xdfff) j++;
        }
        rest++;
      }
      return `${out}…(${rest} more characters)`;
    }
    const unit = s.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        const pair = s.slice(i, i + 2);
        out += NEEDS_ESCAPE.test(pair) ? hex4(unit) + hex4(next) : pair;
        i += 2;
        shown++;
        continue;
      }
    }
    if (unit >= 0xd800 && unit <= 0xdfff) {
      out += hex4(unit); // lone surrogate
    } else if (unit === 0x22) {
      out += '\\"';
    } else if (unit === 0x5c) {
      out += '\\\\';
    } else {
      const ch = s[i]!;
      out += unit !== 0x20 && NEEDS_ESCAPE.test(ch) ? hex4(unit) : ch;
    }
    i++;
    shown++;
  }
  return out;
}

/** `"…"`: the escaped value in double quotes. */
export function quote(s: string): string {
  return `"${escapeForMessage(s)}"`;
}
