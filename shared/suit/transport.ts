// How a primary hands a constrained secondary its update (docs/suit.md): the signed SUIT envelope and
// the image stream together, in place of the Uptane metadata bundle and putImage of
// shared/ecu/secondary-protocol.ts. A transport to a constrained ECU implements this beside the
// ordinary SecondaryTransport (its version reports still go through that one).

export interface SuitReceiver {
  /**
   * The secondary verifies the envelope (signature, class, sequence number), then streams the image
   * into its inactive slot checking size and digest; nothing is staged unless all of it holds.
   */
  putSuit(envelope: Uint8Array, image: AsyncIterable<Uint8Array>): Promise<void>;
}

export function isSuitReceiver(transport: object): transport is SuitReceiver {
  return typeof (transport as Partial<SuitReceiver>).putSuit === 'function';
}
