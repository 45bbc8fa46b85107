import { services } from '../../bench/support/local-stack.js';

// Starts the local services if they are not running (idempotent). scripts/test.sh starts them
// too and tears them down afterwards; this keeps `npm run test:integration` usable on its own.
export default async function setup(): Promise<void> {
  await services('up');
}
