import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '../../ports/logger.js';

function wrap(p: Pino): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    child: (fields) => wrap(p.child(fields)),
  };
}

/** JSON lines on stderr (stdout stays free for command output). */
export function createPinoLogger(level: string, fields: Record<string, unknown> = {}): Logger {
  return wrap(pino({ level, base: fields, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true })));
}
