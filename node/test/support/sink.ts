import type { approuter } from "@hermes/proto";
import type { SessionSink } from "../../src/router/session.js";

export type NodeBody = NonNullable<approuter.NodeFrame["body"]>;
export type NodeCase = NodeBody["$case"];
export type NodeValue<C extends NodeCase> = Extract<NodeBody, { $case: C }>["value"];
export type WithCorrelation<C extends NodeCase> = NodeValue<C> & { correlationId: string };

/** A SessionSink that records every frame. take() drains what arrived since the last take(). */
export class RecordingSink implements SessionSink {
  readonly frames: approuter.NodeFrame[] = [];
  ended = false;
  endCalls = 0;
  /** Whether the router asked for the stream's connection to take no more streams. */
  wentAway = false;
  private cursor = 0;

  send(frame: approuter.NodeFrame): void {
    if (this.ended) throw new Error(`frame ${frame.body?.$case} sent after end()`);
    this.frames.push(frame);
  }

  end(): void {
    this.endCalls++;
    this.ended = true;
  }

  goAway(): void {
    this.wentAway = true;
  }

  /** Frames that arrived since the last take(). */
  take(): approuter.NodeFrame[] {
    const fresh = this.frames.slice(this.cursor);
    this.cursor = this.frames.length;
    return fresh;
  }

  /** The body cases since the last take(), draining them. */
  takeCases(): NodeCase[] {
    return this.take().map((f) => f.body!.$case);
  }

  /** Every recorded value of one case. */
  all<C extends NodeCase>(kind: C): NodeValue<C>[] {
    return this.frames.flatMap((f) => (f.body?.$case === kind ? [f.body.value as NodeValue<C>] : []));
  }

  /** The only frame since the last take(); fails unless it is exactly one frame of `kind`. Drains. */
  one<C extends NodeCase>(kind: C): WithCorrelation<C> {
    const fresh = this.take();
    const cases = fresh.map((f) => f.body?.$case);
    if (fresh.length !== 1 || fresh[0]!.body?.$case !== kind) {
      throw new Error(`expected one ${kind} frame, got [${cases.join(", ")}]`);
    }
    const frame = fresh[0]!;
    return { ...frame.body!.value, correlationId: frame.correlationId } as unknown as WithCorrelation<C>;
  }

  /** Takes out the first unread frame of `kind`, leaving the others unread. */
  pick<C extends NodeCase>(kind: C): WithCorrelation<C> {
    const index = this.frames.findIndex((f, i) => i >= this.cursor && f.body?.$case === kind);
    if (index < 0)
      throw new Error(`no ${kind} frame among [${this.frames.slice(this.cursor).map((f) => f.body?.$case)}]`);
    const [frame] = this.frames.splice(index, 1);
    return { ...frame!.body!.value, correlationId: frame!.correlationId } as unknown as WithCorrelation<C>;
  }

  /** The last recorded frame of `kind` (not draining), or undefined. */
  last<C extends NodeCase>(kind: C): NodeValue<C> | undefined {
    return this.all(kind).at(-1);
  }
}
