// The client side of SCRAM (RFC 5802; SHA-512 as Kafka's SCRAM-SHA-512, SHA-256 for RFC 7677's
// test vector), for the raw-protocol quota client: kafkajs authenticates its own connections.

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramHash = 'sha256' | 'sha512';

/** A user name as SCRAM carries it: '=' and ',' escaped. */
function saslName(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** One SCRAM exchange: first(), then final(serverFirst), then verify(serverFinal). */
export class ScramClient {
  private readonly bare: string;
  private serverSignature: Buffer | undefined;

  constructor(
    private readonly hash: ScramHash,
    user: string,
    private readonly password: string,
    private readonly nonce: string = randomBytes(24).toString('base64url'),
  ) {
    this.bare = `n=${saslName(user)},r=${nonce}`;
  }

  /** The client-first message (no channel binding). */
  first(): string {
    return `n,,${this.bare}`;
  }

  /** The client-final message, with the proof; throws if the server's first message is not acceptable. */
  final(serverFirst: string): string {
    const a = attributes(serverFirst);
    if (a.has('e')) throw new Error(`SCRAM: the server refused: ${a.get('e')}`);
    const nonce = a.get('r');
    const salt = a.get('s');
    const iterations = Number(a.get('i'));
    if (!nonce || !nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new Error('SCRAM: the server\'s nonce does not extend ours');
    if (!salt || !Number.isInteger(iterations)) throw new Error('SCRAM: the server\'s first message lacks a salt or an iteration count');
    // Kafka's own bounds; a server asking for more would stall this process (pbkdf2 is synchronous).
    if (iterations < 4096 || iterations > 16384) throw new Error(`SCRAM: ${iterations} iterations is outside 4096-16384`);
    const size = this.hash === 'sha512' ? 64 : 32;
    // The password's UTF-8 bytes as they are: Kafka and kafkajs apply no SASLprep either.
    const salted = pbkdf2Sync(this.password, Buffer.from(salt, 'base64'), iterations, size, this.hash);
    const hmac = (key: Buffer, text: string) => createHmac(this.hash, key).update(text).digest();
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
    const authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(size);
    for (let i = 0; i < size; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server's final message: it proves the server knew our password's keys. */
  verify(serverFinal: string): void {
    const a = attributes(serverFinal);
    if (a.has('e')) throw new Error(`SCRAM: the server refused: ${a.get('e')}`);
    const v = a.get('v');
    const expected = this.serverSignature;
    if (!expected) throw new Error('SCRAM: verify() before final()');
    const got = v === undefined ? Buffer.alloc(0) : Buffer.from(v, 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new Error('SCRAM: the server\'s signature does not match');
  }
}
