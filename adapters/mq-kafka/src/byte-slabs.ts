/** Bytes of one slab. */
export const SLAB_BYTES = 64 * 1024;

/** Values and keys longer than this keep the buffer node-rdkafka made for them. */
export const MAX_SLAB_COPY = 4 * 1024;

/**
 * Copies the small values and keys of fetched records into shared slabs, so that each record held
 * until its acknowledgement is a view of a slab instead of a Buffer with an ArrayBuffer and a
 * backing store of its own (node-rdkafka copies every value and key into a new one). The garbage
 * collector tracks each ArrayBuffer's backing store one by one, and a consumer holding a large
 * in-flight window held hundreds of thousands of them; node-rdkafka's buffers now die young.
 *
 * A view keeps its whole slab alive: a handler that keeps one message keeps at most
 * {@link SLAB_BYTES} (the same trade as Node's own 8 KiB `Buffer` pool, with a larger slab).
 */
export class ByteSlabs {
  #slab: Buffer = Buffer.alloc(0);
  #used = 0;

  /** `bytes` as a view of a slab (its own buffer when empty or longer than {@link MAX_SLAB_COPY}). */
  copy(bytes: Buffer): Buffer {
    const length = bytes.byteLength;
    if (length === 0 || length > MAX_SLAB_COPY) return bytes;
    if (this.#used + length > this.#slab.byteLength) {
      this.#slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.#used = 0;
    }
    const start = this.#used;
    this.#slab.set(bytes, start);
    this.#used = start + length;
    return this.#slab.subarray(start, this.#used);
  }
}
