// Making untrusted text safe to show on a terminal or write to a server's log: a VIN, a refused
// manifest's field or an error message may hold escape sequences that would clear the screen,
// retitle the window or forge a log line (docs/threat-model.md HR-6). Used by the CLI printer and by
// the servers' error logging alike, so it depends on nothing.

/**
 * Characters that steer a terminal or reorder what it shows: C0 controls (ESC, BEL, CR, backspace,
 * newline...), DEL, C1 controls (CSI 0x9B, OSC 0x9D... which some terminals obey as 8-bit sequences),
 * the Unicode line and paragraph separators, and the bidirectional marks, embeddings, overrides and
 * isolates that make text read differently from how it is stored.
 */
const TERMINAL_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON's short escapes; every other control is written \uXXXX, so an escaped JSON line stays the same JSON. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/**
 * `text` with every terminal control character written visibly as a JSON-style escape (ESC becomes
 * `\u001b`, a newline `\n`). The result holds none of them, so escaping twice changes nothing, and
 * escaping a line of JSON text leaves JSON that parses to the same value.
 */
export function escapeTerminalText(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `text` escaped like escapeTerminalText except its line breaks, for text whose lines are its
 * writer's own (an error with its next step, a stack trace in a server's log).
 */
export function escapeTerminalLines(text: string): string {
  return text.split('\n').map(escapeTerminalText).join('\n');
}
