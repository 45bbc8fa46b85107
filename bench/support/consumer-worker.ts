// A process of SDK consumers for bench:scale (`--consumer-processes N`): as an application
// instance would hold them, each process its own event loop. Started by fork() with its share of
// the consumers; tells the parent over IPC what each one serves (and since when, by its own
// polling every 5 ms), its flip reports and the records it processed. Exits on 'close'.

import type { FlipReport, RoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { scaleConsumer } from './scale-consumer.js';

export interface WorkerConsumer {
  readonly index: number;
  readonly pipeline: string;
  readonly clientId: string;
}

export interface WorkerSetup {
  readonly etcd: string;
  readonly prefix: string;
  readonly marginMs: number;
  readonly consumers: readonly WorkerConsumer[];
}

export type WorkerMessage =
  | { readonly t: 'started'; readonly ids: Record<number, string> }
  | { readonly t: 'serving'; readonly index: number; readonly room: string | undefined; readonly at: number }
  | { readonly t: 'flip'; readonly index: number; readonly report: FlipReport }
  | { readonly t: 'records'; readonly index: number; readonly seqs: number[]; readonly firstB?: number }
  | { readonly t: 'closed' };

const send = (m: WorkerMessage) => process.send?.(m);

if (process.send) {
  const setup = JSON.parse(process.argv[2] ?? '{}') as WorkerSetup;
  const pending = new Map<number, { seqs: number[]; firstB?: number }>();
  const consumers: { w: WorkerConsumer; c: RoutedConsumer; serving: string | undefined; firstB?: number }[] = setup.consumers.map((w) => {
    const entry = { w, serving: undefined as string | undefined } as { w: WorkerConsumer; c: RoutedConsumer; serving: string | undefined; firstB?: number };
    entry.c = scaleConsumer(
      { pipeline: w.pipeline, clientId: w.clientId, etcd: setup.etcd, prefix: setup.prefix, marginMs: setup.marginMs },
      (seq, room) => {
        let p = pending.get(w.index);
        if (!p) pending.set(w.index, (p = { seqs: [] }));
        p.seqs.push(seq);
        if (room === 'room-b' && entry.firstB === undefined) p.firstB = entry.firstB = Date.now();
      },
      (report) => send({ t: 'flip', index: w.index, report }),
    );
    return entry;
  });
  const poll = setInterval(() => {
    const now = Date.now();
    for (const e of consumers) {
      const room = e.c.status().servingRoom;
      if (room !== e.serving) {
        e.serving = room;
        send({ t: 'serving', index: e.w.index, room, at: now });
      }
    }
  }, 5);
  const flush = setInterval(() => {
    for (const [index, p] of pending) send({ t: 'records', index, seqs: p.seqs, ...(p.firstB !== undefined && { firstB: p.firstB }) });
    pending.clear();
  }, 50);
  process.on('message', (m: { t: string }) => {
    if (m.t !== 'close') return;
    clearInterval(poll);
    clearInterval(flush);
    for (const [index, p] of pending) send({ t: 'records', index, seqs: p.seqs, ...(p.firstB !== undefined && { firstB: p.firstB }) });
    void Promise.all(consumers.map((e) => e.c.close().catch(() => undefined))).then(() => {
      send({ t: 'closed' });
      process.exit(0);
    });
  });
  await Promise.all(consumers.map((e) => e.c.start()));
  send({ t: 'started', ids: Object.fromEntries(consumers.map((e) => [e.w.index, e.c.consumerId])) });
}
