import { readFileSync, statSync } from 'node:fs';

/** A file's bytes (a certificate, a key), read again whenever its inode, size or mtime changes. */
export class WatchedFile {
  private value: Buffer | undefined;
  private stamp = '';

  constructor(readonly path: string) {}

  /** The current bytes, and whether they were (re-)read by this call. */
  readFresh(): { readonly bytes: Buffer; readonly changed: boolean } {
    const st = statSync(this.path);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const changed = this.value === undefined || stamp !== this.stamp;
    if (changed) {
      this.value = readFileSync(this.path);
      this.stamp = stamp;
    }
    return { bytes: this.value!, changed };
  }

  read(): Buffer {
    return this.readFresh().bytes;
  }
}

/**
 * A secret kept in a file (a mounted Kubernetes Secret, a projected service-account token, a
 * rotated certificate's key): read again whenever the file changes, so a rotation takes effect on
 * the next use without a restart. One final newline is dropped; an empty or blank file is an
 * error. The value is never part of
 * an error message.
 */
export class SecretFile {
  private readonly file: WatchedFile;
  private value: string | undefined;

  constructor(readonly path: string) {
    this.file = new WatchedFile(path);
  }

  /** The current value. */
  read(): string {
    const { bytes, changed } = this.file.readFresh();
    if (changed || this.value === undefined) {
      // The newline an editor or `echo` leaves is not part of the secret; other spaces are (as at load).
      const text = bytes.toString('utf8').replace(/\r?\n$/, '');
      if (!text.trim()) throw Object.assign(new Error(`${this.path} is empty`), { code: 'EMPTY' });
      this.value = text;
    }
    return this.value;
  }
}
