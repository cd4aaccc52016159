import winston from 'winston';

// winston's typings name the transport base class `transport`; at run time it is exported as `Transport`.
const TransportStream = (winston as unknown as { Transport: new () => winston.transport }).Transport;

/** Where winston formats put the finished line (triple-beam's `MESSAGE`, a global symbol). */
export const MESSAGE = Symbol.for('message');

/**
 * A winston transport that writes each formatted entry as one line to a stream and reports when
 * the stream has taken it (its write callback), which is what `flush()` waits for.
 */
export class LineTransport extends TransportStream {
  private readonly stream: NodeJS.WritableStream;
  private readonly onWritten: () => void;

  constructor(stream: NodeJS.WritableStream, onWritten: () => void) {
    super();
    this.stream = stream;
    this.onWritten = onWritten;
  }

  override log(info: { [MESSAGE]?: unknown }, next: () => void): void {
    this.stream.write(`${String(info[MESSAGE])}\n`, () => {
      // Counted also when the write failed: flush() must not wait for an entry that will never arrive.
      this.onWritten();
      next();
    });
  }
}
