// The Image repository sends its images with the blob sender both servers share (the Director sends
// encrypted images with it): shared/server/blob-sender.ts.
export { BLOB_SLAB_BYTES, parseByteRange, sendBlob, type SendBlobOptions } from '../shared/server/blob-sender.js';
