// The upload records: which images the Image repository holds (their bytes live in the blob store),
// so that targets metadata may list only images that were uploaded, with the same length and hashes.

export interface ImageRecord {
  readonly sha256: string;
  readonly sha512: string;
  readonly length: number;
}

export interface ImageRecordStore {
  image(sha256: string): Promise<ImageRecord | undefined>;
  /** The records of those of `sha256s` that were uploaded, in one call (a targets file lists thousands), by SHA-256. */
  images(sha256s: readonly string[]): Promise<Map<string, ImageRecord>>;
  /** Records uploaded images and who uploaded them, in one transaction; an image recorded before keeps its first record. */
  recordImages(images: readonly ImageRecord[], uploader: string, now: Date): Promise<void>;
}
