// Asks for a secret (a token PIN) on the terminal without echoing it. Only the root cli.ts hands the
// real streams in (docs/code-style.md R3), and only when standard input is a terminal, so a script
// without a PIN fails with a typed error instead of hanging on a prompt nobody sees.
import { TokenPinError } from '../core/errors.js';

interface TerminalInput {
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

interface TerminalOutput {
  write(text: string): unknown;
}

/**
 * Reads a secret from the terminal `input` (raw mode, nothing echoed) after writing `prompt` to
 * `output`. The caller checks that standard input is a terminal (isatty(0)) before offering it.
 */
export function promptSecretOn(input: TerminalInput, output: TerminalOutput, prompt: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    if (input.setRawMode === undefined) {
      reject(new TokenPinError('standard input is not a terminal: set the PIN variable (--pin-env) instead'));
      return;
    }
    // Raw mode (no echo) before the prompt: whatever is typed once the prompt shows is never echoed.
    input.setRawMode(true);
    output.write(prompt);
    let secret = '';
    const done = (error?: Error) => {
      input.setRawMode!(false);
      input.off('data', onData);
      input.pause();
      output.write('\n');
      if (error === undefined) resolve(secret);
      else reject(error);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new TokenPinError('PIN entry cancelled; nothing was signed'));
        if (ch === '\u007f' || ch === '\b') secret = secret.slice(0, -1);
        else if (ch >= ' ') secret += ch;
      }
    };
    input.resume();
    input.on('data', onData);
  });
}
