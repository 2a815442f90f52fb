// The kernel's view of a loopback TCP connection (Linux /proc/net/tcp), for tests that must know
// whether the SERVER closed a connection whose client has stopped reading: such a client never
// notices a close by itself, but its kernel does.
import { readFileSync } from 'node:fs';

const STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

/**
 * The state of the client side of the connection whose local port is `localPort`, or undefined
 * when the kernel no longer has it (reset by the peer). 'CLOSE_WAIT' means the peer closed.
 */
export function tcpState(localPort: number): string | undefined {
  const port = localPort.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || !fields[1]!.endsWith(`:${port}`)) continue;
    return STATES[fields[3]!] ?? fields[3];
  }
  return undefined;
}
