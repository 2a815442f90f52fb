// How a primary hands a constrained secondary its update (docs/suit.md): the signed SUIT envelope and
// the image stream together, in place of the Uptane metadata bundle and putImage of
// shared/ecu/secondary-protocol.ts. A transport to a constrained ECU implements this beside the
// ordinary SecondaryTransport (its version reports still go through that one).

/** A constrained ECU's answer to a key-update statement it took. */
export interface SuitKeyUpdateResult {
  /** The key epoch the ECU trusts now. */
  readonly epoch: number;
  /**
   * `updated`: the ECU verified the statement and now trusts its key alone. `unchanged`: the
   * statement is the very one it applied last (a primary repeating itself after a lost answer or a
   * crash); nothing changed.
   */
  readonly status: 'updated' | 'unchanged';
}

export interface SuitReceiver {
  /**
   * The secondary verifies the envelope (signature, class, sequence number), then streams the image
   * into its inactive slot checking size and digest; nothing is staged unless all of it holds.
   */
  putSuit(envelope: Uint8Array, image: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * A key-update statement (shared/suit/key-update.ts): the secondary verifies it under the SUIT key
   * it trusts now, checks class and epoch, and replaces key and epoch in its trust file in one
   * atomic write; from then on it refuses anything signed by the old key (docs/suit.md "Rotating the SUIT key").
   */
  putSuitKey(statement: Uint8Array): Promise<SuitKeyUpdateResult>;
}

export function isSuitReceiver(transport: object): transport is SuitReceiver {
  return typeof (transport as Partial<SuitReceiver>).putSuit === 'function';
}
