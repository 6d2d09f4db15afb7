import {
  type Chat,
  ChatEndedError,
  endReasonName,
  HermesClient,
  Identity,
  NodeError,
  NodeUnreachableError,
} from "../../../node/dist/index.js";
import type { AppEvent, PairSpec, PairStatus, Traffic, Way } from "../protocol.js";
import { clientOptions } from "./client-options.js";
import { WayLedger } from "./ledger.js";

/**
 * A failed chat start (once both apps are connected) is tried again after this, doubling up to
 * RETRY_MAX_MS: soon enough not to add to the measured recovery, and well within the node's
 * 30 starts a minute per session.
 */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;
/** How often a renewal looks whether both apps have their sessions back. */
const CONNECTED_POLL_MS = 20;
/** b is told its chat is ready at about the time a is; after this long it never will be. */
const PEER_READY_MS = 5000;

/**
 * Two SDK apps, a and b, that keep one chat going and send numbered messages both ways at a
 * steady rate, each direction with at most maxInFlight unsettled sends. When the chat ends, a
 * starts a new one (the counters go on), as an app would; the end is reported, which is what
 * the suite counts. Every delivery goes through the direction's ledger.
 */
export class Pair {
  readonly a: HermesClient;
  readonly b: HermesClient;
  readonly ways: Record<Way, WayLedger>;
  private chatA: Chat | undefined;
  private chatB: Chat | undefined;
  private readonly inFlight = new WeakMap<Chat, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private sending = false;
  private stopped = false;
  private renewal: Promise<void> | undefined;
  /** Chats this pair deleted itself: their end is not news. */
  private readonly deleted = new WeakSet<Chat>();
  /** Every chat of this pair that has not ended (an old one may linger on the side not yet told). */
  private readonly open = new Set<Chat>();

  constructor(
    readonly spec: PairSpec,
    appEndpoints: readonly string[],
    private readonly traffic: Traffic,
    private readonly record: (event: AppEvent) => void,
  ) {
    const client = (home: number) =>
      new HermesClient(
        clientOptions({
          identity: Identity.generate(),
          home,
          appEndpoints,
          maxInFlight: traffic.maxInFlight,
        }),
      );
    this.a = client(spec.a);
    this.b = client(spec.b);
    this.ways = { ab: new WayLedger(spec.id, "ab"), ba: new WayLedger(spec.id, "ba") };
    for (const [side, app] of [
      ["a", this.a],
      ["b", this.b],
    ] as const) {
      app.on("disconnected", (why) => this.event(side, "disconnected", why));
      app.on("connected", (info) => this.event(side, "connected", info.nodeId));
      app.on("unreachable", (error) => this.event(side, "unreachable", describe(error)));
      app.on("error", (error) => this.event(side, "error", describe(error)));
    }
    this.b.on("offer", (offer) => {
      if (offer.fromAppId !== this.a.appId) return offer.reject("not my pair");
      offer.accept().catch(() => undefined); // its outcome arrives as the "chat" event or a new start
    });
    this.b.on("chat", (chat) => {
      if (chat.peerAppId !== this.a.appId) return;
      this.wire(chat, "b");
      this.chatB = chat;
    });
  }

  /** Connects both apps and opens the first chat. */
  async start(): Promise<void> {
    await Promise.all([this.a.connect(), this.b.connect()]);
    const period = 1000 / this.traffic.messagesPerSecond;
    for (const way of ["ab", "ba"] as const) {
      // Spread the directions' ticks over the period rather than sending all at once.
      const offset = Math.random() * period;
      const start = setTimeout(() => this.timers.push(setInterval(() => this.tick(way), period)), offset);
      this.timers.push(start);
    }
    await this.renew();
  }

  get ready(): boolean {
    return (
      this.chatA !== undefined &&
      this.chatB !== undefined &&
      this.chatA.id === this.chatB.id &&
      !this.chatA.ended &&
      !this.chatB.ended
    );
  }

  setSending(on: boolean): void {
    this.sending = on;
  }

  status(): PairStatus {
    return {
      pair: this.spec.id,
      ready: this.ready,
      lastDeliveryAt: { ab: this.ways.ab.lastDeliveryAt, ba: this.ways.ba.lastDeliveryAt },
      nodeIds: { a: this.a.isConnected ? this.a.nodeId : "", b: this.b.isConnected ? this.b.nodeId : "" },
    };
  }

  /**
   * Opens a new chat, retrying until it works or stop(). When the old chat ended for one app, the
   * other is left to hear of it from its node (that is measured); `deleteOld` (a stalled pair)
   * deletes every chat of the pair still open first.
   */
  renew(deleteOld = false): Promise<void> {
    this.renewal ??= (async () => {
      this.chatA = this.chatB = undefined;
      for (const chat of deleteOld ? this.open : []) {
        this.deleted.add(chat);
        chat.delete();
      }
      let delayMs = RETRY_MIN_MS;
      while (!this.stopped) {
        // Starting a chat needs both sessions; the SDK reconnects them by itself.
        while (!(this.a.isConnected && this.b.isConnected) && !this.stopped)
          await new Promise((resolve) => setTimeout(resolve, CONNECTED_POLL_MS));
        try {
          const chat = await this.a.startChat(this.b.appId);
          this.wire(chat, "a");
          this.chatA = chat;
          if (await this.peerHolds(chat.id)) return;
          this.chatA = undefined;
          this.deleted.add(chat);
          chat.delete();
          throw new Error("b was never told the chat is ready");
        } catch (error) {
          this.event("a", "start-failed", describe(error));
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          delayMs = Math.min(RETRY_MAX_MS, delayMs * 2);
        }
      }
    })().finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  private async peerHolds(chatId: string): Promise<boolean> {
    const deadline = Date.now() + PEER_READY_MS;
    while (this.chatB?.id !== chatId && Date.now() < deadline && !this.stopped)
      await new Promise((resolve) => setTimeout(resolve, 20));
    return this.chatB?.id === chatId;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([this.a.close(), this.b.close()]);
  }

  private wire(chat: Chat, side: "a" | "b"): void {
    const ledger = this.ways[side === "a" ? "ba" : "ab"];
    chat.on("message", (message) => void ledger.received(message.data, Date.now()));
    chat.on("error", (error) => this.event(side, "error", describe(error)));
    this.open.add(chat);
    chat.on("ended", (reason) => {
      this.open.delete(chat);
      if (this.stopped || this.deleted.has(chat)) return;
      this.event(side, "chat-ended", endReasonName(reason));
      if (chat === this.chatA || chat === this.chatB) void this.renew();
    });
  }

  private tick(way: Way): void {
    const chat = way === "ab" ? this.chatA : this.chatB;
    if (!this.sending || !chat || !this.ready) return;
    const inFlight = this.inFlight.get(chat) ?? 0;
    if (inFlight >= this.traffic.maxInFlight) return;
    const ledger = this.ways[way];
    const { counter, body } = ledger.next();
    this.inFlight.set(chat, inFlight + 1);
    chat
      .send(body)
      .then(
        () => ledger.acked(counter),
        (error: unknown) => {
          ledger.rejected(counter, describe(error));
          this.event(way === "ab" ? "a" : "b", "send-rejected", describe(error));
        },
      )
      .finally(() => this.inFlight.set(chat, (this.inFlight.get(chat) ?? 1) - 1));
  }

  private event(side: "a" | "b", kind: AppEvent["kind"], detail: string): void {
    this.record({ app: `${this.spec.id}.${side}`, at: Date.now(), kind, detail });
  }
}

/** A short, stable name for an error (no chat IDs), to group rejections by. */
function describe(error: unknown): string {
  if (error instanceof ChatEndedError) return `chat ended: ${endReasonName(error.reason)}`;
  if (error instanceof NodeError) return error.message.split(":")[0]!;
  if (error instanceof NodeUnreachableError) return "node unreachable";
  if (error instanceof Error) return error.message.replace(/[0-9a-f]{16,}/g, "…").slice(0, 80);
  return String(error);
}
