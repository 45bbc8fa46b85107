// Preloaded into a controller child by the scale benchmark (node --import=.../tick-timer.js):
// times each Controller.tick and writes one JSON line per tick to stderr, beside the logs:
// {"msg":"bench tick","ms":<duration>,"at":<end, epoch ms>}. Measurement only; the controller's
// own code is not changed (switchyard_tick_seconds would be the in-product equivalent).

import { performance } from 'node:perf_hooks';
import { Controller } from '../../src/controller/controller.js';

const original = Controller.prototype.tick;
Controller.prototype.tick = async function timedTick(this: Controller) {
  const started = performance.now();
  try {
    return await original.call(this);
  } finally {
    const ms = performance.now() - started;
    process.stderr.write(`{"msg":"bench tick","ms":${ms.toFixed(2)},"at":${Date.now()}}\n`);
  }
};
