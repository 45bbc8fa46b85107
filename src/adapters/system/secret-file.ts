import { readFileSync, statSync } from 'node:fs';

/**
 * A secret kept in a file (a mounted Kubernetes Secret, a projected service-account token, a
 * rotated certificate's key): read again whenever the file changes, so a rotation takes effect on
 * the next use without a restart. Trimmed; an empty file is an error. The value is never part of
 * an error message.
 */
export class SecretFile {
  private value: string | undefined;
  private stamp = '';

  constructor(readonly path: string) {}

  /** The current value; re-read when the file's inode, size or mtime changed since the last read. */
  read(): string {
    const st = statSync(this.path);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.value === undefined || stamp !== this.stamp) {
      const text = readFileSync(this.path, 'utf8').trim();
      if (!text) throw new Error(`${this.path} is empty`);
      this.value = text;
      this.stamp = stamp;
    }
    return this.value;
  }
}
