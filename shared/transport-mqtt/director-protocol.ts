// What the vehicle and the Director agree on over MQTT besides the topics (topics.ts): the operations
// a vehicle asks for, and the HTTP method and path each is signed as (docs/transport.md "Topic
// layout"), shared by the vehicle's channel and the Director's bridge.

/** The operations a vehicle asks the Director for, as the `op` user property names them. */
export const DIRECTOR_OPS = ['session', 'metadata', 'image', 'manifest', 'image-urls'] as const;
export type DirectorOp = (typeof DIRECTOR_OPS)[number];

/** The HTTP method and path each operation is signed as, so one signature check serves both transports. */
export function signedRequestOf(op: DirectorOp, file?: string): { readonly method: string; readonly path: string } {
  switch (op) {
    case 'session':
      return { method: 'POST', path: '/vehicle/session' };
    case 'metadata':
      return { method: 'GET', path: `/vehicle/metadata/${file}` };
    case 'image':
      return { method: 'GET', path: `/vehicle/images/${encodeURIComponent(file ?? '')}` };
    case 'manifest':
      return { method: 'POST', path: '/vehicle/manifest' };
    case 'image-urls':
      return { method: 'POST', path: '/vehicle/image-urls' };
  }
}
