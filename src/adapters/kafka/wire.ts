// Kafka's wire primitives, for the requests kafkajs cannot send (ADR 0011): the quota client's
// own socket, and the batched OffsetFetch sent over kafkajs' connections (group-offsets.ts).

/** Appends Kafka's primitive types; flexible (v1) structs end with an empty tagged-field section. */
export class Writer {
  private readonly parts: Buffer[] = [];

  private fixed(bytes: number, put: (b: Buffer) => void): this {
    const b = Buffer.alloc(bytes);
    put(b);
    this.parts.push(b);
    return this;
  }
  int8(v: number) { return this.fixed(1, (b) => b.writeInt8(v)); }
  int16(v: number) { return this.fixed(2, (b) => b.writeInt16BE(v)); }
  int32(v: number) { return this.fixed(4, (b) => b.writeInt32BE(v)); }
  float64(v: number) { return this.fixed(8, (b) => b.writeDoubleBE(v)); }
  bool(v: boolean) { return this.int8(v ? 1 : 0); }
  uvarint(v: number): this {
    const bytes: number[] = [];
    while (v >= 0x80) {
      bytes.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    bytes.push(v);
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  /** The old int16-length string; the request header's client id keeps it even in flexible headers. */
  string16(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.int16(b.length);
    this.parts.push(b);
    return this;
  }
  /** Bytes with an int32 length (SaslAuthenticate v1). */
  bytes32(b: Buffer): this {
    this.int32(b.length);
    this.parts.push(b);
    return this;
  }
  /** A compact (nullable) string: unsigned varint length + 1 (0 = null), then UTF-8. */
  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const b = Buffer.from(s, 'utf8');
    this.uvarint(b.length + 1);
    this.parts.push(b);
    return this;
  }
  compactArray<T>(items: readonly T[], each: (w: this, item: T) => void): this {
    this.uvarint(items.length + 1);
    for (const item of items) each(this, item);
    return this;
  }
  noTags() { return this.uvarint(0); }
  bytes(): Buffer { return Buffer.concat(this.parts); }
}

/** Reads Kafka's primitive types from one response frame; a short frame throws RangeError. */
export class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}

  int16(): number { const v = this.b.readInt16BE(this.at); this.at += 2; return v; }
  int32(): number { const v = this.b.readInt32BE(this.at); this.at += 4; return v; }
  int64(): number { const v = Number(this.b.readBigInt64BE(this.at)); this.at += 8; return v; }
  float64(): number { const v = this.b.readDoubleBE(this.at); this.at += 8; return v; }
  uvarint(): number {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = this.b.readUInt8(this.at++);
      v += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return v;
      if (shift > 28) throw new RangeError('varint longer than 5 bytes');
    }
  }
  compactString(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    if (this.at + n - 1 > this.b.length) throw new RangeError('string runs past the frame');
    const s = this.b.toString('utf8', this.at, this.at + n - 1);
    this.at += n - 1;
    return s;
  }
  /** The old int16-length nullable string. */
  string16(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    if (this.at + n > this.b.length) throw new RangeError('string runs past the frame');
    const s = this.b.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  /** Bytes with an int32 length (-1: null, read as empty). */
  bytes32(): Buffer {
    const n = this.int32();
    if (n < 0) return Buffer.alloc(0);
    if (this.at + n > this.b.length) throw new RangeError('bytes run past the frame');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  /** Element count of a compact array, -1 for null. */
  compactArrayLength(): number { return this.uvarint() - 1; }
  /** Skips a tagged-field section: fields we do not know are, by design, safe to ignore. */
  skipTags(): void {
    for (let n = this.uvarint(); n > 0; n--) {
      this.uvarint();
      this.at += this.uvarint();
    }
  }
}

