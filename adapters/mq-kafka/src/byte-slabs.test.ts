import { expect } from 'chai';
import { ByteSlabs, MAX_SLAB_COPY, SLAB_BYTES } from './byte-slabs.js';

describe('ByteSlabs', function () {
  it('copies small buffers into one slab until it is full, then starts another', function () {
    const slabs = new ByteSlabs();
    const sources = Array.from({ length: 40 }, (_, index) => Buffer.alloc(MAX_SLAB_COPY, index));
    const copies = sources.map((source) => slabs.copy(source));
    copies.forEach((copy, index) => expect(copy.equals(sources[index] as Buffer), `copy ${index}`).to.equal(true));
    const perSlab = Math.floor(SLAB_BYTES / MAX_SLAB_COPY);
    expect(new Set(copies.slice(0, perSlab).map((copy) => copy.buffer)).size).to.equal(1);
    expect(new Set(copies.map((copy) => copy.buffer)).size).to.equal(Math.ceil(sources.length / perSlab));
  });

  it('keeps a copy independent of its source', function () {
    const slabs = new ByteSlabs();
    const source = Buffer.from('abc');
    const copy = slabs.copy(source);
    source[0] = 0x7a;
    expect(copy.toString()).to.equal('abc');
  });

  it('returns an empty buffer and one longer than the copy limit as they are', function () {
    const slabs = new ByteSlabs();
    const empty = Buffer.alloc(0);
    const large = Buffer.alloc(MAX_SLAB_COPY + 1, 1);
    expect(slabs.copy(empty)).to.equal(empty);
    expect(slabs.copy(large)).to.equal(large);
  });
});
