import { expect } from 'chai';
import { waitFor } from '@platform-host/test-kit';
import { Deadlines } from './deadlines.js';

describe('Deadlines (one timer for many deadlines of one length)', function () {
  it('passes on what settles in time and rejects what does not, each with its own error', async function () {
    const deadlines = new Deadlines(80);
    let releaseSlow: (value: string) => void = () => undefined;
    const slow = new Promise<string>((resolve) => (releaseSlow = resolve));
    const fast = Array.from({ length: 50 }, (_, index) =>
      deadlines.within(Promise.resolve(index), () => new Error(`fast ${index} expired`)),
    );
    const failing = deadlines.within(Promise.reject(new Error('its own failure')), () => new Error('expired'));
    const late = deadlines.within(slow, () => new Error('slow one expired'));
    expect(await Promise.all(fast)).to.deep.equal(Array.from({ length: 50 }, (_, index) => index));
    let failure: unknown;
    await failing.catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.equal('its own failure');
    let expiry: unknown;
    await late.catch((error: unknown) => (expiry = error));
    expect((expiry as Error).message).to.equal('slow one expired');
    releaseSlow('too late'); // settling after the deadline changes nothing
    await waitFor(() => deadlines.queued === 0, 2_000, 'the queue to empty');
  });

  it('keeps the queue as short as the unsettled work, also behind an old unsettled head', async function () {
    const deadlines = new Deadlines(60_000);
    const head = deadlines.within(new Promise<never>(() => undefined), () => new Error('head expired'));
    void head.catch(() => undefined);
    for (let index = 0; index < 5_000; index += 1) {
      await deadlines.within(Promise.resolve(index), () => new Error('expired'));
    }
    // Settled entries behind the unsettled head are compacted away: the queue stays short.
    expect(deadlines.queued).to.be.within(1, 2_050);
  });

  it('calls back what start() began and finish() did not end in time, once, and tells finish() which it was', async function () {
    const deadlines = new Deadlines(50);
    const expired: string[] = [];
    const inTime = deadlines.start(() => expired.push('in time'));
    const late = deadlines.start(() => expired.push('late'));
    expect(deadlines.finish(inTime)).to.equal(true);
    await waitFor(() => expired.length > 0, 2_000, 'the late one to expire');
    expect(deadlines.finish(late)).to.equal(false);
    expect(deadlines.finish(inTime)).to.equal(false); // finished already
    expect(expired).to.deep.equal(['late']);
    expect(deadlines.queued).to.equal(0);
    expect(() => deadlines.finish({})).to.throw(TypeError, /Deadlines.start/);
  });

  it('refuses a timeout that is not a positive number', function () {
    expect(() => new Deadlines(0)).to.throw(RangeError, /positive number/);
    expect(() => new Deadlines(Number.NaN)).to.throw(RangeError, /positive number/);
  });
});
