/** Key/value repository for small settings (listen address, etc.). Table `kv`. */
import type Database from 'better-sqlite3';

export class KvRepo {
  private readonly sGet: Database.Statement<[string], { value: string }>;
  private readonly sSet: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.sGet = db.prepare(`SELECT value FROM kv WHERE key = ?`);
    this.sSet = db.prepare(`INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  }

  get(key: string): string | undefined {
    return this.sGet.get(key)?.value;
  }

  set(key: string, value: string): void {
    this.sSet.run(key, value);
  }
}
