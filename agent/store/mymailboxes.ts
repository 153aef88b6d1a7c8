/**
 * Our own mailboxes repository: the entities this entity named as its mailboxes (they keep
 * messages for us while we are offline). Table `my_mailboxes`.
 */
import type Database from 'better-sqlite3';

export class MyMailboxesRepo {
  private readonly sAdd: Database.Statement<[Uint8Array, number]>;
  private readonly sRemove: Database.Statement<[Uint8Array]>;
  private readonly sList: Database.Statement<[], { entity: Buffer }>;
  private readonly sHas: Database.Statement<[Uint8Array], { one: number }>;

  constructor(db: Database.Database) {
    this.sAdd = db.prepare(`INSERT INTO my_mailboxes (entity, added_at) VALUES (?, ?) ON CONFLICT (entity) DO NOTHING`);
    this.sRemove = db.prepare(`DELETE FROM my_mailboxes WHERE entity = ?`);
    this.sList = db.prepare(`SELECT entity FROM my_mailboxes ORDER BY added_at, entity`);
    this.sHas = db.prepare(`SELECT 1 AS one FROM my_mailboxes WHERE entity = ?`);
  }

  /** Adds a mailbox; false (addedAt kept) when it is already one. */
  add(entity: Uint8Array, now: number): boolean {
    return this.sAdd.run(entity, now).changes === 1;
  }

  /** Returns false when `entity` was not one of our mailboxes. */
  remove(entity: Uint8Array): boolean {
    return this.sRemove.run(entity).changes > 0;
  }

  /** Our mailboxes, oldest added first (then entity bytes). */
  list(): Uint8Array[] {
    return this.sList.all().map((r) => r.entity);
  }

  has(entity: Uint8Array): boolean {
    return this.sHas.get(entity) !== undefined;
  }
}
