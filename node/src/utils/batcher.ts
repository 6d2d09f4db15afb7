export interface BatcherOptions<F> {
  /** Writes a frame on the stream. */
  write(frame: F): void;
  /** The bytes a frame adds to a batch, or undefined when it must go alone. */
  batchable(frame: F): number | undefined;
  /** One frame carrying several batchable ones, in their order. */
  combine(frames: F[]): F;
  /** A batch grows to at most this many bytes (asked at each frame: it may be learned late). */
  maxBytes(): number;
  /** Runs a flush once the current turn of the event loop is done (default: setImmediate). */
  defer?: (flush: () => void) => void;
}

/**
 * Frames that are ready in the same turn of the event loop (a window of messages, the acks for
 * what one read brought) travel in one frame; a lone frame goes as it is, at the end of the turn.
 * A frame that cannot be batched goes at once, after whatever was waiting, so order is kept.
 */
export class Batcher<F> {
  private waiting: F[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly o: BatcherOptions<F>) {}

  send(frame: F): void {
    const size = this.o.batchable(frame);
    if (size === undefined) {
      this.flush();
      this.o.write(frame);
      return;
    }
    if (this.waiting.length > 0 && this.bytes + size > this.o.maxBytes()) this.flush();
    this.waiting.push(frame);
    this.bytes += size;
    if (this.scheduled) return;
    this.scheduled = true;
    (this.o.defer ?? setImmediate)(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Writes what is waiting now. */
  flush(): void {
    const frames = this.waiting;
    if (frames.length === 0) return;
    this.waiting = [];
    this.bytes = 0;
    this.o.write(frames.length === 1 ? frames[0]! : this.o.combine(frames));
  }

  /** The stream is gone: what was waiting is dropped (the senders retransmit). */
  drop(): void {
    this.waiting = [];
    this.bytes = 0;
  }
}
